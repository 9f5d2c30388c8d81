"""The "queued" reply a command sends before it enqueues: every way out leaves it telling the truth.

``async with pending_reply(message, text) as queued:`` sends ``text`` and yields the sent message. If the
block fails after that (a bug, Telegram trouble, anything but a clean exit), the failure is reported to
Sentry once and the message is edited into the apology with the event id, so it never says "queued" for
work that was never queued. The exception ends there: this is the failure's one report.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sentry_sdk
from telegram import InlineKeyboardMarkup, Message
from telegram.error import TelegramError

from bot.texts import Language, text

log = logging.getLogger(__name__)


async def edit_quietly(message: Message, new_text: str) -> bool:
    """Edit a message the bot sent; False (and a warning) if Telegram refused.

    Nothing here depends on the answer: Bot API servers answer an edit with the message, with ``true``, or
    (seen from odd proxies) with ``null`` or ``{}``, which PTB fails to parse after the edit took effect.
    """
    try:
        await message.get_bot().edit_message_text(new_text, chat_id=message.chat_id, message_id=message.message_id)
    except TelegramError as exc:
        log.warning("Could not edit message %s in chat %s: %r", message.message_id, message.chat_id, exc)
        return False
    except (AttributeError, KeyError, TypeError) as exc:  # PTB parsing an answer of another shape
        log.warning("Telegram answered the edit of message %s in an unexpected shape: %r", message.message_id, exc)
    return True


async def edit_markup_quietly(message: Message, markup: InlineKeyboardMarkup | None) -> bool:
    """Replace a message's buttons; a double press ("message is not modified") or a refusal is only logged."""
    try:
        await message.get_bot().edit_message_reply_markup(
            chat_id=message.chat_id, message_id=message.message_id, reply_markup=markup
        )
    except TelegramError as exc:
        log.info("Could not change the buttons of message %s: %r", message.message_id, exc)
        return False
    except (AttributeError, KeyError, TypeError) as exc:  # PTB parsing an answer of another shape
        log.warning("Telegram answered the edit of message %s in an unexpected shape: %r", message.message_id, exc)
    return True


@asynccontextmanager
async def pending_reply(message: Message, pending_text: str, language: Language) -> AsyncIterator[Message]:
    """Reply ``pending_text`` to ``message``, then as :func:`pending`."""
    queued = await message.reply_text(pending_text)
    async with pending(queued, language):
        yield queued


@asynccontextmanager
async def pending(queued: Message, language: Language) -> AsyncIterator[Message]:
    """A "queued" message already sent (or edited into place): on failure, edit it into the apology."""
    try:
        yield queued
    except Exception as exc:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("component", "telegram")
            event_id = sentry_sdk.capture_exception(exc)
        # WARNING: the event above is the report; an ERROR log line would be a second one.
        log.warning(
            "Command failed after its reply %s was sent (Sentry event %s): %r", queued.message_id, event_id, exc
        )
        await edit_quietly(queued, text("internal_error", language, event_id=event_id or "-"))
