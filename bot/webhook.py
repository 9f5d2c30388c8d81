"""The bot's HTTP side (an ASGI app in the bot's own event loop): health, and Sentry's integration webhooks.

``POST /sentry-webhook`` only verifies and enqueues (docs/alerts.md): Sentry gives a webhook one second and
disables the subscription after 1,000 timeouts a day, so nothing slow happens here. In order: the size
(413), the secret being configured (503), the signature over the raw bytes (401), the timestamp window
(401), the resource (400, or 200 and nothing queued for resources we do not route), the body's shape (400),
the Request-ID not seen before (409), and the enqueue onto the ``alerts`` queue (503 when Redis is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable

import sentry_sdk
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.producer import QueueUnavailable
from bot.runtime import BotRuntime
from common.sentry_webhooks import (
    KNOWN_ACTIONS,
    ROUTED_ACTIONS,
    UNROUTED_RESOURCES,
    WebhookRejected,
    normalize,
    parse_body,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/sentry-webhook"
# The one Redis call of the receiver is bounded well inside Sentry's one second.
REDIS_TIMEOUT_S = 0.3
REQUEST_ID_MAX_LEN = 128
SEEN_KEY_PREFIX = "sentry:webhook:seen:"


def seen_key(request_id: str) -> str:
    """The replay guard's Redis key for a Request-ID (hashed: the id is the sender's text, not ours)."""
    return SEEN_KEY_PREFIX + hashlib.sha256(request_id.encode()).hexdigest()[:32]


def _answer(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"status": "ok" if status < 300 else "refused", "detail": reason}, status_code=status)


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _signature_ok(secret: bytes, body: bytes, signature: str) -> bool:
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    # compare_digest on ASCII bytes: constant time, and a non-ASCII header cannot raise.
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode("ascii", "replace"))


def _timestamp_s(value: str | None) -> float | None:
    try:
        stamp = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return stamp if math.isfinite(stamp) else None


def _report_redis_failure(exc: BaseException) -> str | None:
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("component", "telegram")
        scope.set_context("sentry_webhook", {"step": "replay guard", "timeout_s": REDIS_TIMEOUT_S})
        event_id = sentry_sdk.capture_exception(exc)
    log.warning("Sentry webhook refused: Redis unavailable (%r, Sentry event %s)", exc, event_id)
    return event_id


def sentry_webhook_endpoint(runtime: BotRuntime, clock: Callable[[], float] = time.time) -> Callable[..., object]:
    settings = runtime.settings
    secret = settings.sentry_webhook_secret.get_secret_value().encode() if settings.sentry_webhook_secret else None
    tolerance_s = settings.sentry_webhook_tolerance_s

    async def sentry_webhook(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, settings.sentry_webhook_max_bytes)
        except _TooLarge:
            return _answer(413, f"body larger than {settings.sentry_webhook_max_bytes} bytes")
        except ClientDisconnect:
            return _answer(400, "the body did not arrive")
        if secret is None:
            return _answer(503, "SENTRY_WEBHOOK_SECRET is not set: Sentry webhooks are off")
        signature = request.headers.get("sentry-hook-signature")
        if not signature:
            return _answer(401, "missing Sentry-Hook-Signature")
        if not _signature_ok(secret, body, signature):
            return _answer(401, "Sentry-Hook-Signature does not match the body")
        stamp = _timestamp_s(request.headers.get("sentry-hook-timestamp"))
        if stamp is None:
            return _answer(401, "missing or non-numeric Sentry-Hook-Timestamp")
        if abs(clock() - stamp) > tolerance_s:
            return _answer(401, f"Sentry-Hook-Timestamp is more than {tolerance_s}s from now")
        resource = request.headers.get("sentry-hook-resource", "")
        if resource in UNROUTED_RESOURCES:
            return _answer(200, f"{resource} is not routed")
        if resource not in ROUTED_ACTIONS:
            return _answer(400, f"unknown Sentry-Hook-Resource {resource[:40]!r}")
        request_id = request.headers.get("request-id", "")
        if not request_id or len(request_id) > REQUEST_ID_MAX_LEN or not request_id.isprintable():
            return _answer(400, f"missing Request-ID (or longer than {REQUEST_ID_MAX_LEN} characters)")
        try:
            envelope = parse_body(body)
            if envelope.action not in KNOWN_ACTIONS[resource]:
                raise WebhookRejected(f"unknown action {envelope.action[:40]!r} for {resource}")
            if envelope.action not in ROUTED_ACTIONS[resource]:
                return _answer(200, f"{resource}.{envelope.action} is not routed")
            alert = normalize(resource, envelope, request_id, received_at_s=clock())
        except WebhookRejected as exc:
            return _answer(400, str(exc))
        key = seen_key(request_id)
        try:
            fresh = await asyncio.wait_for(
                runtime.redis.set(key, "1", nx=True, ex=2 * tolerance_s + 60), REDIS_TIMEOUT_S
            )
        except (TimeoutError, RedisError, OSError) as exc:
            event_id = _report_redis_failure(exc)
            return _answer(503, f"queue unavailable (Sentry event {event_id})")
        if not fresh:
            return _answer(409, "Request-ID already received")
        try:
            await runtime.producer.send(alert, task_id=f"alert-{hashlib.sha256(request_id.encode()).hexdigest()[:32]}")
        except QueueUnavailable as exc:
            # Let Sentry's retry of this delivery through: forget the id (best effort; Redis is what failed).
            with contextlib.suppress(TimeoutError, RedisError, OSError):
                await asyncio.wait_for(runtime.redis.delete(key), REDIS_TIMEOUT_S)
            return _answer(503, f"queue unavailable (Sentry event {exc.event_id})")
        return _answer(202, "queued")

    return sentry_webhook


def build_webhook_app(runtime: BotRuntime, clock: Callable[[], float] = time.time) -> Starlette:
    if runtime.settings.sentry_webhook_secret is None:
        log.warning("SENTRY_WEBHOOK_SECRET is not set: POST %s answers 503 (Sentry alerts are off)", WEBHOOK_PATH)
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route(WEBHOOK_PATH, sentry_webhook_endpoint(runtime, clock), methods=["POST"]),
        ]
    )
    app.state.runtime = runtime
    return app
