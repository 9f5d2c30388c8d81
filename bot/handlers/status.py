"""/status (admins): one message on the whole system, within 2 seconds.

The bot reads what Redis alone can tell (the queues' depths and their oldest message's age) and what it
knows itself (beat's next runs from beat_schedule.py, its own Sentry status); the rest (which workers are
alive and what they consume and run, the last scans and cleanup runs, the Telegram outbox) comes from a
worker through ``OpsStatusTask``, waited for with a timeout. Redis down is one clear line.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

import beat_schedule
from bot.observed import DEADLINE_EXCEEDED, PERMISSION_DENIED, UNAVAILABLE, command_status, observed_command
from bot.producer import QueueUnavailable
from bot.replies import NoAnswer, ask_workers
from bot.runtime import BotRuntime, is_admin, language, runtime_of
from bot.status_view import BrokerDown, WorkersSilent, render_status
from bot.texts import Catalogue, text
from common.contract import OpsStatusTask
from common.i18n import N_
from common.observability.sdk import sentry_status
from common.status import QueueDepth, next_runs, read_depths

log = logging.getLogger(__name__)

# The whole answer within 2 s: the Redis read, then the worker's part (its own control calls take ~0.5 s).
REDIS_TIMEOUT_S = 0.4
WORKER_TIMEOUT_S = 1.5

COMMANDS: Catalogue = {
    "status": N_("workers, queues and the last runs (admins)"),
}


async def read_queues(runtime: BotRuntime) -> list[QueueDepth] | BrokerDown:
    """The queues' depths, or why Redis could not say."""
    try:
        return await asyncio.wait_for(read_depths(runtime.redis, runtime.producer.key_prefix), REDIS_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        # WARNING: the admin is told in the reply; a broker outage is reported by the processes that depend on it.
        log.warning("/status could not read the queues: %r", exc)
        return BrokerDown(type(exc).__name__)


async def ask_worker(runtime: BotRuntime, timeout_s: float = WORKER_TIMEOUT_S) -> dict[str, object] | WorkersSilent:
    try:
        answer = await ask_workers(runtime.producer, runtime.redis, OpsStatusTask, timeout_s)
    except QueueUnavailable as exc:
        return WorkersSilent("queue_unavailable", event_id=exc.event_id)
    except (NoAnswer, TimeoutError, RedisError, OSError, ValueError):
        return WorkersSilent("no_workers", timeout_s=timeout_s)
    return answer if isinstance(answer, dict) else WorkersSilent("no_workers", timeout_s=timeout_s)


@observed_command("status")
async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Workers, queues, running tasks, the last runs, the next beat runs and Sentry, in one message."""
    lang = language(context)
    message = update.effective_message
    assert message is not None
    user = update.effective_user
    if not is_admin(context, user.id if user else None):
        command_status(PERMISSION_DENIED)
        await message.reply_text(text("admins_only", lang))
        return
    runtime = runtime_of(context)
    depths = await read_queues(runtime)
    worker: dict[str, object] | WorkersSilent | None = None
    if isinstance(depths, BrokerDown):
        command_status(UNAVAILABLE)
    else:
        worker = await ask_worker(runtime)
        if isinstance(worker, WorkersSilent):
            command_status(UNAVAILABLE if worker.reason == "queue_unavailable" else DEADLINE_EXCEEDED)
    now = datetime.now(UTC)
    runs = next_runs(beat_schedule.SCHEDULE, now)
    await message.reply_text(render_status(depths, worker, runs, sentry_status("bot").enabled, now, lang))


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CommandHandler("status", status)]
