"""The bot's own task producer: fire-and-forget sends from the event loop, refused fast when Redis is not there.

Built from the bot's ``Settings`` (one source of truth for the Redis URL), it sends the contract's tasks by
name: the bot imports nothing of ``worker``. A send is two Redis round trips: the message (pushed by a
server-side script, see below) and the ``task-sent`` event Flower shows. There is no result backend, so no
SUBSCRIBE/UNSUBSCRIBE per send and nothing for the event loop to clean up when a result object is collected.

**Never published after the user was told "queue unavailable".** The message carries a deadline, and the
script pushes it only if Redis's own clock has not passed it. The handler gives up strictly later than the
deadline, so whatever happens to the connection — refused, dead, or alive but slow enough that the push
reaches Redis after the handler gave up — a message is either in the queue before the user hears anything,
or never. (This assumes the bot's and Redis's clocks agree within ``CLOCK_SKEW_ALLOWANCE_S``, as Celery's
own ETA and expiry handling does.) If the push went through but every answer was lost on the way back, the
bot says "unavailable" anyway and marks the task abandoned, and the worker drops it unrun (``abandoned_key``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import sentry_sdk
from celery import Celery
from kombu.exceptions import KombuError, OperationalError
from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps
from redis.commands.core import Script
from redis.exceptions import RedisError

from common.contract import ROUTES, TaskCall, abandoned_key
from common.observability.breadcrumbs import trail_header
from common.redis_client import is_sentinel, transport_options
from common.settings import Settings
from common.status import install_sent_at_stamp

log = logging.getLogger(__name__)

ENQUEUE_TIMEOUT_S = 1.0
# The push must happen within this much of the send starting, by Redis's clock; the handler waits longer.
PUBLISH_BUDGET_S = 0.5
CLOCK_SKEW_ALLOWANCE_S = 0.4
assert PUBLISH_BUDGET_S + CLOCK_SKEW_ALLOWANCE_S < ENQUEUE_TIMEOUT_S
# Every socket operation of the producer is bounded well under the publish budget, and none is retried.
SOCKET_TIMEOUT_S = 0.3
ABANDONED_TTL_S = 6 * 60 * 60

# LPUSH only while Redis's clock is at or before the deadline (ms since the epoch); 1 if pushed, else 0.
PUSH_BEFORE_DEADLINE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if now_ms > tonumber(ARGV[2]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1
"""


_PUSH_SCRIPT = Script(None, PUSH_BEFORE_DEADLINE.encode())  # type: ignore[arg-type]  # run with client=


class QueueUnavailable(Exception):
    """The broker did not take the task; ``event_id`` is the Sentry event that recorded why."""

    def __init__(self, reason: str, event_id: str | None) -> None:
        super().__init__(reason)
        self.event_id = event_id


class PublishDeadlinePassed(OperationalError):
    """Redis got the push after its deadline and refused it: nothing was queued."""


@dataclass
class _Publish:
    """One send's deadline, and whether its message is in the queue (set in the sending thread)."""

    deadline_ms: int
    pushed: bool = False


_PUBLISH: contextvars.ContextVar[_Publish | None] = contextvars.ContextVar("publish", default=None)


class DeadlineChannel(kombu_redis.Channel):
    """kombu's Redis channel, with the push made conditional on the send's deadline."""

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        publish = _PUBLISH.get()
        if publish is None or kwargs.get("_publish_batch") is not None:
            super()._put(queue, message, **kwargs)
            return
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        with self.conn_or_acquire() as client:
            # EVALSHA, loading the script on first use: the script's text is not resent with every task.
            pushed = _PUSH_SCRIPT(keys=[key], args=[dumps(message), publish.deadline_ms], client=client)
        if not pushed:
            raise PublishDeadlinePassed(f"Redis received the task after its deadline; not queued ({queue})")
        publish.pushed = True

    def _lookup(self, exchange: str, routing_key: str, default: str | None = None) -> list[str]:
        # Every queue of this project is bound to a direct exchange of its own name with routing key = queue
        # name (worker.app): the destination is the routing key, with no SMEMBERS round trip per send.
        return [routing_key or default or ""]


class DeadlineTransport(kombu_redis.Transport):
    Channel = DeadlineChannel


class DeadlineSentinelChannel(DeadlineChannel, kombu_redis.SentinelChannel):
    """The same for REDIS_URL=sentinel://...: the push goes to the master the Sentinels name."""


class DeadlineSentinelTransport(kombu_redis.SentinelTransport):
    Channel = DeadlineSentinelChannel


_BROKER_ERRORS = (TimeoutError, OperationalError, KombuError, RedisError, OSError)


class Producer:
    """Sends the contract's tasks; create once per bot process, :meth:`close` at shutdown."""

    def __init__(
        self,
        settings: Settings,
        redis_client: redis.asyncio.Redis,
        timeout_s: float = ENQUEUE_TIMEOUT_S,
        key_prefix: str | None = None,
    ) -> None:
        """``key_prefix``: Celery's global key prefix, when the workers use one (tests do)."""
        self._timeout_s = timeout_s
        self._redis = redis_client
        self.key_prefix = key_prefix or ""
        # Each message says when it left, so /status can tell how long the oldest one has waited.
        install_sent_at_stamp()
        transport = "DeadlineSentinelTransport" if is_sentinel(settings.redis_url) else "DeadlineTransport"
        self._app = Celery("bot", set_as_current=False)
        self._app.conf.update(
            broker_url=settings.redis_url,
            broker_transport=f"{__name__}:{transport}",
            broker_transport_options={
                **transport_options(settings.redis_url, settings.redis_sentinel_master),
                "socket_timeout": SOCKET_TIMEOUT_S,
                "socket_connect_timeout": SOCKET_TIMEOUT_S,
                # kombu would otherwise retry a refused connection inside the publish for seconds.
                "max_retries": 0,
                **({"global_keyprefix": key_prefix} if key_prefix else {}),
            },
            broker_connection_timeout=SOCKET_TIMEOUT_S,
            broker_connection_retry=False,
            result_backend=None,
            task_serializer="json",
            accept_content=["json"],
            task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
            # Flower shows the task from "sent" on.
            task_send_sent_event=True,
        )

    async def send(
        self,
        call: TaskCall,
        *,
        task_id: str | None = None,
        expires_s: float | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """Queue ``call`` and return its task id, or raise QueueUnavailable within the enqueue timeout."""
        task_id = task_id or str(uuid.uuid4())
        publish = _Publish(deadline_ms=int((time.time() + PUBLISH_BUDGET_S) * 1000))
        try:
            # to_thread copies the context, so the command's Sentry transaction reaches the Celery
            # integration (the task continues the trace) and the thread sees this send's deadline.
            await asyncio.wait_for(
                asyncio.to_thread(self._send, call, task_id, publish, expires_s, headers), self._timeout_s
            )
        except _BROKER_ERRORS as exc:
            if publish.pushed:  # only the task-sent event failed: the task is queued
                log.warning("Task %s %s queued, but its task-sent event failed: %r", call.NAME, task_id, exc)
                return task_id
            await self._mark_abandoned(task_id)
            with sentry_sdk.new_scope() as scope:
                scope.set_tag("component", "telegram")
                scope.set_context("enqueue", {"task": call.NAME, "timeout_s": self._timeout_s})
                event_id = sentry_sdk.capture_exception(exc)
            # WARNING, not ERROR: the event above is the one report; an ERROR log would send a second one.
            log.warning("Could not enqueue %s: %r (Sentry event %s)", call.NAME, exc, event_id)
            raise QueueUnavailable(f"could not enqueue {call.NAME}: {type(exc).__name__}", event_id) from exc
        return task_id

    def _send(
        self,
        call: TaskCall,
        task_id: str,
        publish: _Publish,
        expires_s: float | None,
        headers: dict[str, Any] | None,
    ) -> None:
        _PUBLISH.set(publish)
        self._app.send_task(
            call.NAME,
            kwargs=call.kwargs(),
            queue=call.QUEUE,
            task_id=task_id,
            expires=expires_s,
            # The command's breadcrumbs travel with the task, so the worker's events show the whole trail.
            headers={**trail_header(), **(headers or {})},
            retry=False,  # the user gets an answer, not a hung handler
        )

    async def _mark_abandoned(self, task_id: str) -> None:
        """Best effort: if the push did land (its answer lost), the worker sees this and drops the task."""
        # Redis is what failed, so this may fail too: then the push was refused by its deadline anyway.
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            await asyncio.wait_for(self._redis.set(abandoned_key(task_id), "1", ex=ABANDONED_TTL_S), SOCKET_TIMEOUT_S)

    def close(self) -> None:
        self._app.close()
