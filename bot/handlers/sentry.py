"""/sentry_info and /test_sentry: prove from the chat that Sentry works in the bot and in the workers."""

from __future__ import annotations

import logging

from celery.exceptions import CeleryError
from telegram import Message, Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.arguments import usage_reply
from bot.observed import observed_command
from bot.queue import QueueUnavailable, enqueue
from bot.results import NoAnswer, wait_for_result
from bot.runtime import is_admin, language
from bot.sentry_info import WorkerAnswer, WorkerSilent, WorkerView, render_details, render_public
from bot.texts import Catalogue, Language, text, translate
from common.observability import sentry_status
from common.sentry_selftest import ALL, TEST_TYPES, UnknownTestType, select_tests
from worker.celery_app import app as celery_app
from worker.tasks.sentry_checks import RUN_TESTS_TASK, STATUS_TASK

log = logging.getLogger(__name__)

# A status answer is one Redis round trip on an idle worker; longer means no worker is consuming `sentry`.
WORKER_STATUS_TIMEOUT_S = 3.0
# A test run queued behind a dead worker is stale after this: the admin has long since asked again.
TEST_RUN_EXPIRES_S = 300

COMMANDS: Catalogue = {
    "sentry_info": {"ru": "статус Sentry в боте и воркерах", "en": "Sentry status of the bot and the workers"},
    "test_sentry": {
        "ru": "отправить тестовые события в Sentry (админы)",
        "en": "send test events to Sentry (admins)",
    },
}

TEXTS: Catalogue = {
    "usage": {
        "ru": "Использование: /test_sentry [{values}]\nБез аргумента — all.",
        "en": "Usage: /test_sentry [{values}]\nNo argument means all.",
    },
    "queued": {
        "ru": "⏳ Тесты Sentry в очереди: {tests}. Результат появится здесь.",
        "en": "⏳ Sentry tests queued: {tests}. The result will appear here.",
    },
}


def _user_id(update: Update) -> int | None:
    return update.effective_user.id if update.effective_user else None


async def _ask_worker() -> WorkerView:
    """One worker's status via the `sentry` queue, or why there is none."""
    # Bound to the production app explicitly: Celery's "current app" is per thread, and handlers may run
    # on a loop in any thread.
    signature = celery_app.signature(STATUS_TASK, options={"expires": WORKER_STATUS_TIMEOUT_S})
    try:
        task_id = await enqueue(signature)
        answer = await wait_for_result(celery_app.AsyncResult(task_id), WORKER_STATUS_TIMEOUT_S)
    except QueueUnavailable as exc:
        return WorkerSilent("queue_unavailable", event_id=exc.event_id)
    except NoAnswer:
        return WorkerSilent("no_worker", timeout_s=WORKER_STATUS_TIMEOUT_S)
    except (CeleryError, OSError) as exc:
        # WARNING: the command still answers with the bot's part; the worker reports its own failure.
        log.warning("Sentry status task failed: %r", exc)
        return WorkerSilent("worker_failed", error=type(exc).__name__)
    return WorkerAnswer(name=str(answer["worker"]), pid=int(answer["pid"]), sentry=dict(answer["sentry"]))


@observed_command("sentry_info")
async def sentry_info(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show whether Sentry is on; admins also get both processes' details and the production checklist."""
    lang = language(context)
    message = update.effective_message
    assert message is not None
    bot_status = sentry_status("bot").as_dict()
    if not is_admin(context, _user_id(update)):
        await message.reply_text(render_public(bot_status, lang))
        return
    # Answer at once with the bot's part; the worker's part replaces the "asking" line when it arrives.
    reply = await message.reply_text(render_details(bot_status, None, lang))
    await reply.edit_text(render_details(bot_status, await _ask_worker(), lang))


@observed_command("test_sentry")
async def test_sentry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Queue test events on the `sentry` queue; the worker replaces the "queued" reply with their event ids."""
    lang = language(context)
    message = update.effective_message
    assert message is not None
    user_id = _user_id(update)
    if user_id is None or not is_admin(context, user_id):
        await message.reply_text(text("admins_only", lang))
        return
    args = context.args or []
    try:
        if len(args) > 1:
            raise UnknownTestType(" ".join(args[1:]))
        tests = select_tests(args[0] if args else None)
    except UnknownTestType as exc:
        usage = translate(TEXTS, "usage", lang, values="|".join((ALL, *TEST_TYPES)))
        await message.reply_text(usage_reply(usage, lang, exc.given))
        return
    queued = await message.reply_text(translate(TEXTS, "queued", lang, tests=", ".join(tests)))
    await _queue_tests(queued, list(tests), user_id, lang)


async def _queue_tests(queued: Message, tests: list[str], user_id: int, lang: Language) -> None:
    signature = celery_app.signature(
        RUN_TESTS_TASK,
        kwargs={"tests": tests, "user_id": user_id, "chat_id": queued.chat_id, "message_id": queued.message_id},
        options={"expires": TEST_RUN_EXPIRES_S},
    )
    try:
        # Inside the command's transaction: the Celery integration carries the trace into the task.
        await enqueue(signature)
    except QueueUnavailable as exc:
        await queued.edit_text(text("queue_unavailable", lang, event_id=exc.event_id or "-"))


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CommandHandler("sentry_info", sentry_info), CommandHandler("test_sentry", test_sentry)]
