"""The buttons on Sentry alert pages (Resolve / Archive / Mute 24 h): admins only, checked here and again in
the worker, which acts, edits the page and answers the press (worker/alerts/actions.py, docs/alerts.md)."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from bot.observed import INVALID_ARGUMENT, PERMISSION_DENIED, UNAVAILABLE, command_status, observed_command
from bot.producer import QueueUnavailable
from bot.runtime import is_admin, language, runtime_of
from bot.texts import Catalogue, text, translate
from common.contract import ALERT_CALLBACK_PREFIX, AlertActionTask, parse_alert_callback
from common.i18n import N_

log = logging.getLogger(__name__)

COMMANDS: Catalogue = {}

TEXTS: Catalogue = {
    "admins_only": N_("⛔ Alert buttons are for admins only."),
    "unknown_button": N_("This button is out of date."),
}


@observed_command("alert_button")
async def alert_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Queue the pressed action for the worker; refuse non-admins without queueing anything."""
    lang = language(context)
    query = update.callback_query
    assert query is not None
    parsed = parse_alert_callback(query.data or "")
    message = query.message
    if parsed is None or not isinstance(message, Message):
        command_status(INVALID_ARGUMENT)
        await query.answer(translate(TEXTS, "unknown_button", lang), show_alert=True)
        return
    user = query.from_user
    if not is_admin(context, user.id):
        command_status(PERMISSION_DENIED)
        log.warning("User %s pressed an alert button but is not an admin", user.id)
        await query.answer(translate(TEXTS, "admins_only", lang), show_alert=True)
        return
    action, page_key = parsed
    call = AlertActionTask(
        action=action,
        page_key=page_key,
        user_id=user.id,
        user_name=f"@{user.username}" if user.username else user.full_name[:64],
        chat_id=message.chat.id,
        message_id=message.message_id,
        callback_query_id=query.id,
    )
    try:
        await runtime_of(context).producer.send(call)
    except QueueUnavailable as exc:
        command_status(UNAVAILABLE)
        await query.answer(text("queue_unavailable", lang, event_id=exc.event_id or "-")[:200], show_alert=True)
    # On success the worker answers the press with what Sentry said.


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CallbackQueryHandler(alert_button, pattern=f"^{ALERT_CALLBACK_PREFIX}")]
