"""A total deadline for one HTTP response, shared by the outgoing API clients (DMarket, Sentry, Telegram).

Its own module: common/http.py is also used by pure modules, which must not load httpx (tests/unit/test_imports).
"""

from __future__ import annotations

import time

import httpx

# One response, headers to last byte: httpx's timeouts bound each read, so a peer dripping a byte every few
# seconds never trips them (a probe held a DMarket request for minutes that way).
RESPONSE_DEADLINE_S = 30.0


def send_within(
    client: httpx.Client, request: httpx.Request, deadline_s: float = RESPONSE_DEADLINE_S
) -> httpx.Response:
    """``client.send(request)``, but the whole response must arrive within ``deadline_s`` in total, else
    ``httpx.ReadTimeout`` (a ``TransportError``, as for any other timeout). The body is read in full."""
    started = time.monotonic()
    response = client.send(request, stream=True)
    try:
        raw = bytearray()
        for chunk in response.iter_raw():
            raw += chunk
            if time.monotonic() - started > deadline_s:
                raise httpx.ReadTimeout(f"the response took longer than {deadline_s:g}s in total", request=request)
    finally:
        response.close()
    # The raw (still encoded) bytes as a whole response, decoded once on read like any other.
    whole = httpx.Response(
        response.status_code,
        headers=response.headers,
        content=bytes(raw),
        request=request,
        extensions=response.extensions,
    )
    whole.read()
    return whole
