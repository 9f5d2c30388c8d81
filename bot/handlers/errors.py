"""The one global error handler: report to Sentry, then apologise to the user with the event id."""

from __future__ import annotations

import logging

import sentry_sdk
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.runtime import language
from bot.texts import text

log = logging.getLogger(__name__)


def _command_of(update: object) -> str | None:
    if isinstance(update, Update) and update.effective_message and update.effective_message.text:
        first = update.effective_message.text.split(maxsplit=1)[0]
        return first.split("@", 1)[0] if first.startswith("/") else None
    return None


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Report an exception raised by any handler and tell the user, never with a traceback."""
    user_id = update.effective_user.id if isinstance(update, Update) and update.effective_user else None
    command = _command_of(update)
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("component", "telegram")
        if command:
            scope.set_tag("command", command)
        if user_id is not None:
            scope.set_user({"id": str(user_id)})
        event_id = sentry_sdk.capture_exception(context.error)
    # WARNING: the Sentry event above is the report; an ERROR log line would be a second event.
    log.warning("Handler failed for %s (user %s, Sentry event %s): %r", command, user_id, event_id, context.error)
    if isinstance(update, Update) and update.effective_message:
        try:
            await update.effective_message.reply_text(
                text("internal_error", language(context, update), event_id=event_id or "-")
            )
        except TelegramError:
            log.warning("Could not send the apology for Sentry event %s", event_id)
