"""Webhook deliveries as a Sentry internal integration sends them, off the request path.

Each delivery is one POST of compact JSON with Sentry's headers and ``Sentry-Hook-Signature`` =
hex HMAC-SHA256 of the exact body bytes keyed with the integration's client secret, one attempt,
1 s timeout (``sentry-apps.webhook.timeout.sec``). Deliveries run one after another in a background
task chain, so a receiver sees them in the order Sentry decided to send them, and the request that
caused one never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx

from .models import now_ms, to_iso

TIMEOUT_S = 1.0
SENTRY_ACTOR = {"type": "application", "id": "sentry", "name": "Sentry"}  # automatic transitions, alerts


def sign(secret: str, body: bytes) -> str:
    """``Sentry-Hook-Signature``: SentryApp.build_signature over the raw body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Builds, signs and delivers webhooks; ``log`` holds every finished attempt for the control API."""

    def __init__(self, url: str | None, secret: str, installation_uuid: str) -> None:
        self.url = url
        self.secret = secret
        self.installation_uuid = installation_uuid
        self.log: list[dict[str, Any]] = []
        self._last: asyncio.Task[None] | None = None

    def send(self, resource: str, action: str, data: dict[str, Any], actor: dict[str, Any] | None) -> None:
        """Queue one delivery (nothing happens while no webhook URL is configured)."""
        if not self.url:
            return
        body = json.dumps(
            {
                "action": action,
                "installation": {"uuid": self.installation_uuid},
                "data": data,
                "actor": actor or SENTRY_ACTOR,
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Request-ID": uuid.uuid4().hex,
            "Sentry-Hook-Resource": resource,
            "Sentry-Hook-Timestamp": str(int(time.time())),
            "Sentry-Hook-Signature": sign(self.secret, body),
        }
        record: dict[str, Any] = {"resource": resource, "action": action, "url": self.url}
        previous = self._last
        self._last = asyncio.get_running_loop().create_task(self._deliver(previous, headers, body, record))

    async def _deliver(
        self, previous: asyncio.Task[None] | None, headers: dict[str, str], body: bytes, record: dict[str, Any]
    ) -> None:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        started = now_ms()
        status: int | None = None
        error: str | None = None
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                response = await client.post(str(record["url"]), content=body, headers=headers)
            status = response.status_code
        except httpx.TimeoutException:
            error = f"timeout after {TIMEOUT_S:g}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.log.append(
            record
            | {
                "status": status,
                "error": error,
                "request_headers": headers,
                "body": body.decode(),
                "at": to_iso(started),
                "duration_ms": now_ms() - started,
            }
        )
