"""Enqueue Celery tasks from the event loop without blocking it, and fail fast when Redis is down."""

from __future__ import annotations

import asyncio
import logging

import sentry_sdk
from celery.canvas import Signature
from celery.result import AsyncResult
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

ENQUEUE_TIMEOUT_S = 1.0


class QueueUnavailable(Exception):
    """The broker did not accept the task; ``event_id`` is the Sentry event that recorded why."""

    def __init__(self, reason: str, event_id: str | None) -> None:
        super().__init__(reason)
        self.event_id = event_id


_BROKER_ERRORS = (TimeoutError, OperationalError, KombuError, RedisError, OSError)


def _apply_async(signature: Signature) -> AsyncResult:
    try:
        # retry=False: the user gets an answer, not a hung handler.
        return signature.apply_async(retry=False)
    except RuntimeError as exc:
        # Celery's Redis result backend wraps a failed SUBSCRIBE to the result channel (done before the
        # publish) in RuntimeError("Retry limit exceeded ..."): that is Redis being unreachable too.
        if isinstance(exc.__cause__, _BROKER_ERRORS):
            raise exc.__cause__ from exc
        raise


async def enqueue(signature: Signature, timeout_s: float = ENQUEUE_TIMEOUT_S) -> str:
    """Send ``signature`` to its queue and return the task id; raise QueueUnavailable within ``timeout_s``.

    The bot's process bounds every Redis operation well under ``timeout_s`` (use_fast_fail_producer), so
    the send has finished, one way or the other, by the time this gives up: a task is never published
    after the user was told the queue is unavailable.
    """
    try:
        # to_thread copies the context, so the handler's Sentry transaction reaches the Celery integration
        # and the task continues the same trace.
        result = await asyncio.wait_for(asyncio.to_thread(_apply_async, signature), timeout_s)
    except _BROKER_ERRORS as exc:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("component", "telegram")
            scope.set_context("enqueue", {"task": signature.task, "timeout_s": timeout_s})
            event_id = sentry_sdk.capture_exception(exc)
        # WARNING, not ERROR: the event above is the one report; an ERROR log would send a second one.
        log.warning("Could not enqueue %s: %r (Sentry event %s)", signature.task, exc, event_id)
        raise QueueUnavailable(f"could not enqueue {signature.task}: {type(exc).__name__}", event_id) from exc
    return str(result.id)
