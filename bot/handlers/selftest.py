"""/sentry_info and /test_sentry: prove from the chat that Sentry works in the bot and in the workers."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.arguments import usage_reply
from bot.observed import (
    DEADLINE_EXCEEDED,
    INTERNAL_ERROR,
    INVALID_ARGUMENT,
    PERMISSION_DENIED,
    UNAVAILABLE,
    command_status,
    observed_command,
)
from bot.pending import edit_quietly, pending_reply
from bot.producer import QueueUnavailable
from bot.replies import NoAnswer, ask_workers
from bot.runtime import BotRuntime, is_admin, language, runtime_of
from bot.selftest_view import WorkerAnswer, WorkerSilent, WorkerView, render_details, render_public
from bot.texts import Messages, text, translator
from common.contract import ALL_TESTS, TEST_TYPES, SelfTestTask, SentryStatusTask
from common.i18n import N_
from common.observability.sdk import sentry_status

log = logging.getLogger(__name__)

# A status answer is one Redis round trip on an idle worker; longer means no worker is consuming `sentry`.
WORKER_STATUS_TIMEOUT_S = 3.0
# A test run queued behind a dead worker is stale after this: the admin has long since asked again.
TEST_RUN_EXPIRES_S = 300

COMMANDS: Messages = {
    "sentry_info": N_("Sentry status of the bot and the workers"),
    "test_sentry": N_("send test events to Sentry (admins)"),
}


class UnknownTestType(ValueError):
    """The /test_sentry argument is not ``all`` or one of the contract's TEST_TYPES."""

    def __init__(self, given: str) -> None:
        super().__init__(f"unknown test {given!r}, expected one of: {', '.join((ALL_TESTS, *TEST_TYPES))}")
        self.given = given


def select_tests(args: list[str]) -> tuple[str, ...]:
    """The tests to run for ``/test_sentry <args>``; no argument means ``all``."""
    if len(args) > 1:
        raise UnknownTestType(args[1])
    name = (args[0] if args else ALL_TESTS).strip().lower() or ALL_TESTS
    if name == ALL_TESTS:
        return TEST_TYPES
    if name in TEST_TYPES:
        return (name,)
    raise UnknownTestType(args[0])


# How /sentry_info ends when the worker's part is missing (its transaction status).
SILENT_STATUS = {"no_worker": DEADLINE_EXCEEDED, "queue_unavailable": UNAVAILABLE, "worker_failed": INTERNAL_ERROR}


def _user_id(update: Update) -> int | None:
    return update.effective_user.id if update.effective_user else None


async def ask_worker(runtime: BotRuntime, timeout_s: float | None = None) -> WorkerView:
    """One worker's status via the `sentry` queue, or why there is none."""
    timeout_s = WORKER_STATUS_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        answer = await ask_workers(runtime.producer, runtime.redis, SentryStatusTask, timeout_s)
    except QueueUnavailable as exc:
        return WorkerSilent("queue_unavailable", event_id=exc.event_id)
    except NoAnswer:
        return WorkerSilent("no_worker", timeout_s=timeout_s)
    except (RedisError, OSError, TimeoutError, ValueError) as exc:
        # WARNING: the command still answers with the bot's part; the worker reports its own failure.
        log.warning("Sentry status reply failed: %r", exc)
        return WorkerSilent("worker_failed", error=type(exc).__name__)
    try:
        return WorkerAnswer(name=str(answer["worker"]), pid=int(answer["pid"]), sentry=dict(answer["sentry"]))
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("Sentry status reply malformed: %r", exc)
        return WorkerSilent("worker_failed", error=type(exc).__name__)


@observed_command("sentry_info")
async def sentry_info(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show whether Sentry is on; admins also get both processes' details and the production checklist."""
    lang = language(context, update)
    message = update.effective_message
    assert message is not None
    bot_status = sentry_status("bot").as_dict()
    if not is_admin(context, _user_id(update)):
        await message.reply_text(render_public(bot_status, lang))
        return
    # Answer at once with the bot's part; the worker's part replaces the "asking" line when it arrives.
    reply = await message.reply_text(render_details(bot_status, None, lang))
    worker = await ask_worker(runtime_of(context))
    if isinstance(worker, WorkerSilent):
        command_status(SILENT_STATUS.get(worker.reason, INTERNAL_ERROR))
    await edit_quietly(reply, render_details(bot_status, worker, lang))


@observed_command("test_sentry")
async def test_sentry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Queue test events on the `sentry` queue; the worker replaces the "queued" reply with their event ids."""
    lang = language(context, update)
    message = update.effective_message
    assert message is not None
    user_id = _user_id(update)
    if user_id is None or not is_admin(context, user_id):
        command_status(PERMISSION_DENIED)
        await message.reply_text(text("admins_only", lang))
        return
    try:
        tests = select_tests(context.args or [])
    except UnknownTestType as exc:
        command_status(INVALID_ARGUMENT)
        usage = translator(lang).gettext(
            "Usage: /test_sentry [{values}]\nWithout an argument: {all}.",
            values="|".join((ALL_TESTS, *TEST_TYPES)),
            all=ALL_TESTS,
        )
        await message.reply_text(usage_reply(usage, lang, exc.given))
        return
    queued_text = translator(lang).gettext(
        "⏳ Sentry tests queued: {tests}. The result will appear here.", tests=", ".join(tests)
    )
    async with pending_reply(message, queued_text, lang) as queued:
        call = SelfTestTask(tests, user_id, queued.chat_id, queued.message_id, language=lang)
        try:
            # Inside the command's transaction: the Celery integration carries the trace into the task.
            await runtime_of(context).producer.send(call, expires_s=TEST_RUN_EXPIRES_S)
        except QueueUnavailable as exc:
            command_status(UNAVAILABLE)
            await edit_quietly(queued, text("queue_unavailable", lang, event_id=exc.event_id or "-"))


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CommandHandler("sentry_info", sentry_info), CommandHandler("test_sentry", test_sentry)]
