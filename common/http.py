"""Small HTTP helpers shared by the outgoing API clients (DMarket, Sentry, Telegram)."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime

import httpx

# No server asks for more than minutes; a larger value is a bug or an attack, and would stall a worker.
MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after_s(value: str | None, now_s: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait (RFC 9110: delta-seconds or an HTTP date), capped at an hour;
    None if absent or unreadable (including inf and nan)."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (time.time() if now_s is None else now_s)
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


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
