"""Send a message at most once per key: a redelivered task edits the message it sent instead of sending again."""

from __future__ import annotations

from sqlalchemy import select

from common.db.database import Database
from common.db.models import SentMessage
from worker.telegram.sender import TelegramSender


def send_once(sender: TelegramSender, database: Database, key: str, chat_id: int, text: str) -> int:
    """Send ``text`` under an idempotency ``key``: a second call (a redelivered task) edits the first message.

    Telegram has no idempotency key, so this is at-least-once: a worker killed between sendMessage and the
    insert below (one HTTP round trip) leaves no record, and its redelivery sends the message again.
    """
    with database.session() as session:
        existing = session.scalar(select(SentMessage).where(SentMessage.key == key))
        if existing is not None:
            sender.edit_message_text(existing.chat_id, existing.message_id, text)
            return existing.message_id
    message_id = sender.send_message(chat_id, text)
    with database.session() as session:
        session.add(SentMessage(key=key, chat_id=chat_id, message_id=message_id))
    return message_id
