"""Messages that must reach the user: sent at most once per key, and kept until Telegram takes them or refuses.

``send_once``: a redelivered task edits the message it sent instead of sending again.

``deliver``: a task's final message (a scan's result, a cleanup's summary). Tried at once; if Telegram
cannot take it now (429 with a long ``retry_after``, our own flood limit, 5xx, no connection), it is kept in
the ``telegram_outbox`` table and the ``upkeep`` task (every minute, worker/tasks/upkeep.py) sends it when
Telegram's wait is over. If Telegram refuses it for good (403 blocked, 400 chat gone), the row says so and
nothing retries. Nothing is lost on the way: the row is written before the task that failed to send ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update

from common.db.database import Database
from common.db.models import OutboxMessage, SentMessage, utcnow
from common.retry import RetryPolicy
from worker.telegram.sender import TelegramRateLimited, TelegramSender, TelegramSendError

log = logging.getLogger(__name__)

PENDING, SENT, REFUSED = "pending", "sent", "refused"
# A message nobody could deliver for two days is news to no one any more.
GIVE_UP_AFTER = timedelta(days=2)
DRAIN_BATCH = 50
# A drain holds the rows it took for this long; a drain killed mid-way leaves them to the next one after it.
LEASE = timedelta(minutes=2)
# Between attempts when Telegram did not say how long to wait (5xx, no connection): 15 s doubling to 10 min.
BACKOFF = RetryPolicy(max_attempts=1000, deadline_s=GIVE_UP_AFTER.total_seconds(), base_s=15.0, max_backoff_s=600.0)


@dataclass(frozen=True)
class Delivery:
    """What became of a message: ``sent`` (with its id), ``queued`` (in the outbox) or ``refused``."""

    status: str
    message_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Extras:
    """What a message carries besides its text: inline buttons, a forum topic (alert pages use both)."""

    reply_markup: dict[str, Any] | None = None
    message_thread_id: int | None = None


PLAIN = Extras()


def send_once(
    sender: TelegramSender, database: Database, key: str, chat_id: int, text: str, extras: Extras = PLAIN
) -> int:
    """Send ``text`` under an idempotency ``key``: a second call (a redelivered task) edits the first message.

    Telegram has no idempotency key, so this is at-least-once: a worker killed between sendMessage and the
    insert below (one HTTP round trip) leaves no record, and its redelivery sends the message again.
    """
    with database.session() as session:
        existing = session.scalar(select(SentMessage).where(SentMessage.key == key))
        if existing is not None:
            sender.edit_message_text(existing.chat_id, existing.message_id, text, reply_markup=extras.reply_markup)
            return existing.message_id
    message_id = sender.send_message(
        chat_id, text, reply_markup=extras.reply_markup, message_thread_id=extras.message_thread_id
    )
    with database.session() as session:
        session.add(SentMessage(key=key, chat_id=chat_id, message_id=message_id))
    return message_id


def _put(
    sender: TelegramSender, database: Database, key: str, chat_id: int, text: str, edit: int | None, extras: Extras
) -> int:
    """Edit message ``edit`` into ``text``; when it can no longer be edited (400), send ``text`` once anew."""
    if edit is not None:
        try:
            sender.edit_message_text(chat_id, edit, text, reply_markup=extras.reply_markup)
            return edit
        except TelegramSendError as exc:
            if exc.status != 400:  # 400: deleted or too old to edit, so a new message; anything else propagates
                raise
            log.info("Could not edit message %s (%s); sending the text anew", edit, exc.description)
    return send_once(sender, database, key, chat_id, text, extras)


def _wait_s(error: TelegramSendError, attempts: int) -> float:
    if isinstance(error, TelegramRateLimited):  # Telegram's (or our flood control's) own wait
        return error.retry_after_s
    return BACKOFF.wait_s(attempts)


def deliver(
    sender: TelegramSender,
    database: Database,
    key: str,
    chat_id: int,
    text: str,
    edit_message_id: int | None = None,
    extras: Extras = PLAIN,
) -> Delivery:
    """Put ``text`` in front of the user now if Telegram lets us, else keep it until it does (see the module)."""
    try:
        message_id = _put(sender, database, key, chat_id, text, edit_message_id, extras)
    except TelegramSendError as exc:
        return _keep(database, key, chat_id, text, edit_message_id, exc, extras)
    _finish(database, key, SENT)  # an earlier attempt may have left a row
    return Delivery(SENT, message_id)


def _keep(
    database: Database,
    key: str,
    chat_id: int,
    text: str,
    edit: int | None,
    error: TelegramSendError,
    extras: Extras = PLAIN,
) -> Delivery:
    now = utcnow()
    with database.session() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
        if row is None:
            row = OutboxMessage(key=key, chat_id=chat_id, edit_message_id=edit, text=text, attempts=0, created_at=now)
            session.add(row)
        row.text, row.edit_message_id, row.attempts = text, edit, row.attempts + 1
        row.reply_markup, row.message_thread_id = extras.reply_markup, extras.message_thread_id
        row.last_error = str(error)[:1000]
        if error.definitive:
            row.status, row.finished_at = REFUSED, now
        else:
            row.status, row.next_attempt_at = PENDING, now + timedelta(seconds=_wait_s(error, row.attempts))
    if error.definitive:
        log.warning("Telegram refused message %s to chat %s for good: %s", key, chat_id, error)
        return Delivery(REFUSED, error=str(error))
    log.warning("Telegram could not take message %s to chat %s now (%s); kept in the outbox", key, chat_id, error)
    return Delivery("queued", error=str(error))


def _extras(row: OutboxMessage) -> Extras:
    return Extras(row.reply_markup, row.message_thread_id)


def _finish(database: Database, key: str, status: str, error: str | None = None) -> None:
    with database.session() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
        if row is not None and row.status == PENDING:
            row.status, row.finished_at = status, utcnow()
            if error is not None:
                row.last_error = error


@dataclass
class DrainReport:
    sent: int = 0
    refused: int = 0
    still_pending: int = 0
    expired: int = 0


def _lease(database: Database, row_id: int, now: datetime) -> bool:
    """Take a due row for this drain (two drains at once must not send one message twice)."""
    with database.session() as session:
        taken = session.execute(  # an UPDATE's result is a CursorResult, which has rowcount
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
            .values(next_attempt_at=now + LEASE)
        )
        return bool(cast("CursorResult[Any]", taken).rowcount)


def drain(
    sender: TelegramSender, database: Database, now: datetime | None = None, limit: int = DRAIN_BATCH
) -> DrainReport:
    """Try every pending message that is due, oldest first; what happened to them."""
    now = now or utcnow()
    report = DrainReport()
    with database.session() as session:
        due = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at)
            .limit(limit)
        ).all()
        jobs = [(r.id, r.key, r.chat_id, r.text, r.edit_message_id, r.created_at, _extras(r)) for r in due]
    for row_id, key, chat_id, text, edit, created_at, extras in jobs:
        if not _lease(database, row_id, now):
            continue  # another drain has it
        if now - created_at > GIVE_UP_AFTER:
            _finish(database, key, REFUSED, f"not delivered within {GIVE_UP_AFTER}; given up")
            report.expired += 1
            continue
        result = deliver(sender, database, key, chat_id, text, edit, extras)
        if result.status == SENT:
            report.sent += 1
        elif result.status == REFUSED:
            report.refused += 1
        else:
            report.still_pending += 1
    return report


def pending_count(database: Database) -> int:
    """How many messages wait in the outbox (for /status and the doctor)."""
    with database.session() as session:
        return int(session.scalar(select(func.count()).where(OutboxMessage.status == PENDING)) or 0)
