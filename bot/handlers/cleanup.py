"""/cleanup [test] [old N] [delete] [run]: admins preview the Sentry cleanup and can trigger it.

The handler only checks, answers "queued" and enqueues; the worker runs the same cleanup as
scripts/sentry_cleanup.py and edits the "queued" message into the preview (with a run button)
or the outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.arguments import UsageError, usage_reply, usage_reply_for
from bot.observed import INVALID_ARGUMENT, PERMISSION_DENIED, UNAVAILABLE, command_status, observed_command
from bot.pending import edit_markup_quietly, edit_quietly, pending, pending_reply
from bot.producer import QueueUnavailable
from bot.runtime import BotRuntime, is_admin, language, runtime_of
from bot.texts import Language, Messages, text, translate, translator
from common.contract import CLEANUP_CANCEL_CALLBACK as CANCEL_CALLBACK
from common.contract import CLEANUP_CONFIRM_CALLBACK_PREFIX as CONFIRM_CALLBACK_PREFIX
from common.contract import CLEANUP_RUN_CALLBACK_PREFIX as RUN_CALLBACK_PREFIX
from common.contract import MAX_OLD_DAYS, CleanupTask
from common.i18n import N_

log = logging.getLogger(__name__)

EXPECTED = "[test] [old N] [delete] [run]"
DAYS = f"a number of days from 1 to {MAX_OLD_DAYS}"

COMMANDS: Messages = {"cleanup": N_("clean test and old issues out of Sentry (admins)")}

TEXTS: Messages = {
    "usage": N_(
        "Usage: /cleanup [test] [old N] [delete] [run]\n"
        "No arguments: a preview that would mark the test issues resolved.\n"
        "run carries it out; delete deletes the issues instead of resolving them.\n"
        "Example: /cleanup old 30 delete"
    ),
    "admins_only": N_("⛔ The Sentry cleanup is for admins only."),
    "queued_preview": N_("⏳ Sentry cleanup preview queued…"),
    "days_needed": N_("a number of days from 1 to {max_days}, e.g. old 30"),
    "confirm_delete": N_("🗑 Delete these issues for good? Confirm with the button."),
    "cancelled": N_("Cancelled: nothing was deleted."),
    "queued_run": N_("⏳ Sentry cleanup ({args}) queued. The outcome will appear in this message."),
}


@dataclass(frozen=True)
class CleanupChoice:
    test_only: bool
    older_than_days: int | None
    delete: bool
    execute: bool

    @property
    def args(self) -> str:
        """The canonical arguments without ``run``: what the ▶️ Run button and the summary repeat."""
        words = ["test"] if self.test_only else []
        if self.older_than_days is not None:
            words += ["old", str(self.older_than_days)]
        return " ".join([*words, *(["delete"] if self.delete else [])])


def parse_arguments(args: list[str]) -> CleanupChoice:
    """Words in any order and case; with neither ``test`` nor ``old N`` the selection is test issues."""
    test_only = delete = execute = False
    older: int | None = None
    words = [word.lower() for word in args]
    position = 0
    while position < len(words):
        word = words[position]
        if word == "test":
            test_only = True
        elif word == "delete":
            delete = True
        elif word == "run":
            execute = True
        elif word == "old":
            position += 1
            if position >= len(words):
                raise UsageError(None, DAYS, after=args[position - 1])
            value = words[position]
            # isascii(): str.isdigit() also accepts "²" or "٣", which int() then refuses or misreads.
            if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_OLD_DAYS:
                raise UsageError(args[position], DAYS, after=args[position - 1])
            older = int(value)
        else:
            raise UsageError(args[position], EXPECTED)
        position += 1
    if not test_only and older is None:
        test_only = True
    return CleanupChoice(test_only, older, delete, execute)


def usage(lang: Language, value: str | None = None) -> str:
    return usage_reply(translate(TEXTS, "usage", lang), lang, value)


def usage_for(error: UsageError, lang: Language) -> str:
    return usage_reply_for(
        error, translate(TEXTS, "usage", lang), lang, translate(TEXTS, "days_needed", lang, max_days=MAX_OLD_DAYS)
    )


async def _queue(runtime: BotRuntime, choice: CleanupChoice, queued: Message, lang: Language) -> None:
    call = CleanupTask(
        test_only=choice.test_only,
        older_than_days=choice.older_than_days,
        delete=choice.delete,
        execute=choice.execute,
        trigger="bot",
        chat_id=queued.chat_id,
        message_id=queued.message_id,
        bot_args=choice.args,
        language=lang,
    )
    try:
        await runtime.producer.send(call)
    except QueueUnavailable as exc:
        command_status(UNAVAILABLE)
        await edit_quietly(queued, text("queue_unavailable", lang, event_id=exc.event_id or "-"))


def _queued_text(choice: CleanupChoice, lang: Language) -> str:
    if choice.execute:
        return translate(TEXTS, "queued_run", lang, args=choice.args)
    return translate(TEXTS, "queued_preview", lang)


@observed_command("cleanup")
async def cleanup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins only: queue a preview (or, with ``run``, the cleanup itself) and answer at once."""
    lang = language(context, update)
    message, user = update.effective_message, update.effective_user
    assert message is not None
    if not is_admin(context, user.id if user else None):
        command_status(PERMISSION_DENIED)
        await message.reply_text(translate(TEXTS, "admins_only", lang))
        return
    try:
        choice = parse_arguments(context.args or [])
    except UsageError as exc:
        command_status(INVALID_ARGUMENT)
        await message.reply_text(usage_for(exc, lang))
        return
    async with pending_reply(message, _queued_text(choice, lang), lang) as queued:
        await _queue(runtime_of(context), choice, queued, lang)


@observed_command("cleanup")
async def run_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The preview's button: the same arguments, executed; a delete asks to confirm first; admins only."""
    lang = language(context, update)
    query = update.callback_query
    assert query is not None
    assert query.data is not None
    if not is_admin(context, query.from_user.id):
        command_status(PERMISSION_DENIED)
        await query.answer(translate(TEXTS, "admins_only", lang), show_alert=True)
        return
    confirmed = query.data.startswith(CONFIRM_CALLBACK_PREFIX)
    words = query.data.removeprefix(CONFIRM_CALLBACK_PREFIX if confirmed else RUN_CALLBACK_PREFIX).split()
    try:
        previewed = parse_arguments(words)
    except UsageError:
        command_status(INVALID_ARGUMENT)
        await query.answer(usage(lang)[:200], show_alert=True)
        return
    choice = CleanupChoice(previewed.test_only, previewed.older_than_days, previewed.delete, execute=True)
    message = query.message
    accessible = isinstance(message, Message) and message.is_accessible
    if choice.delete and not confirmed:
        # Deleting cannot be undone: one more press, on buttons that say what it does.
        await query.answer(translate(TEXTS, "confirm_delete", lang))
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        translator(lang).pgettext("button", "✅ Yes, delete"),
                        callback_data=f"{CONFIRM_CALLBACK_PREFIX}{choice.args}"[:64],
                    ),
                    InlineKeyboardButton(
                        translator(lang).pgettext("button", "✖️ Cancel"), callback_data=CANCEL_CALLBACK
                    ),
                ]
            ]
        )
        if accessible:
            assert isinstance(message, Message)
            await edit_markup_quietly(message, keyboard)
        else:
            chat_id = message.chat.id if message is not None else query.from_user.id
            await context.bot.send_message(chat_id, translate(TEXTS, "confirm_delete", lang), reply_markup=keyboard)
        return
    await query.answer()
    # PTB builds a Message even for an inaccessible one (date 0), so is_accessible is the test that counts.
    if accessible:
        assert isinstance(message, Message)
        await edit_quietly(message, _queued_text(choice, lang))
        async with pending(message, lang):
            await _queue(runtime_of(context), choice, message, lang)
        return
    # The preview is too old for Telegram to hand over (InaccessibleMessage) or unknown: answer in a new
    # message, in the preview's chat when we know it, else privately to whoever pressed the button.
    chat_id = message.chat.id if message is not None else query.from_user.id
    queued = await context.bot.send_message(chat_id, _queued_text(choice, lang))
    async with pending(queued, lang):
        await _queue(runtime_of(context), choice, queued, lang)


@observed_command("cleanup")
async def cancel_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The confirmation's "Cancel": nothing runs; the buttons go away."""
    lang = language(context, update)
    query = update.callback_query
    assert query is not None
    if not is_admin(context, query.from_user.id):
        command_status(PERMISSION_DENIED)
        await query.answer(translate(TEXTS, "admins_only", lang), show_alert=True)
        return
    await query.answer(translate(TEXTS, "cancelled", lang))
    message = query.message
    if isinstance(message, Message) and message.is_accessible:
        await edit_markup_quietly(message, None)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("cleanup", cleanup),
        CallbackQueryHandler(run_button, pattern=f"^({RUN_CALLBACK_PREFIX}|{CONFIRM_CALLBACK_PREFIX})"),
        CallbackQueryHandler(cancel_button, pattern=f"^{CANCEL_CALLBACK}$"),
    ]
