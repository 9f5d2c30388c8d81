"""Enqueue Celery tasks from the event loop without blocking it, and fail fast when Redis is down."""

from __future__ import annotations

import asyncio
import logging

import sentry_sdk
from celery.canvas import Signature
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

ENQUEUE_TIMEOUT_S = 1.0


class QueueUnavailable(Exception):
    """The broker did not accept the task; ``event_id`` is the Sentry event that recorded why."""

    def __init__(self, reason: str, event_id: str | None) -> None:
        super().__init__(reason)
        self.event_id = event_id


async def enqueue(signature: Signature, timeout_s: float = ENQUEUE_TIMEOUT_S) -> str:
    """Send ``signature`` to its queue and return the task id; raise QueueUnavailable within ``timeout_s``."""
    try:
        # to_thread copies the context, so the handler's Sentry transaction reaches the Celery integration
        # and the task continues the same trace. retry=False: the user gets an answer, not a hung handler.
        result = await asyncio.wait_for(asyncio.to_thread(signature.apply_async, retry=False), timeout_s)
    except (TimeoutError, OperationalError, KombuError, RedisError, OSError) as exc:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("component", "telegram")
            scope.set_context("enqueue", {"task": signature.task, "timeout_s": timeout_s})
            event_id = sentry_sdk.capture_exception(exc)
        # WARNING, not ERROR: the event above is the one report; an ERROR log would send a second one.
        log.warning("Could not enqueue %s: %r (Sentry event %s)", signature.task, exc, event_id)
        raise QueueUnavailable(f"could not enqueue {signature.task}: {type(exc).__name__}", event_id) from exc
    return str(result.id)
