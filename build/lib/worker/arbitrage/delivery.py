"""What a scan tells the user in Telegram: throttled progress edits, and the final text in the "queued" message."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from common.retry import ONCE
from worker.arbitrage import messages
from worker.arbitrage.model import ScanRequest
from worker.resources import Resources
from worker.telegram.outbox import send_once
from worker.telegram.sender import TelegramNotConfigured, TelegramSendError

log = logging.getLogger(__name__)

# Telegram allows about one message per second per chat; progress is a courtesy, so leave room for others.
PROGRESS_INTERVAL_MS = 2_000
PROGRESS_KEY = "arbitrage:progress:{chat_id}"

ProgressCallback = Callable[[int, int, int], None]  # (pages, items seen, opportunities so far)


def progress_reporter(resources: Resources, request: ScanRequest) -> ProgressCallback:
    """A callback that edits the user's message with the scan's progress, at most once per interval per chat."""
    language = resources.settings.bot_language

    def report(pages: int, items: int, found: int) -> None:
        if request.message_id is None:
            return
        try:
            # One edit per chat per interval across every worker: SET NX with a TTL is the whole throttle.
            if not resources.redis.set(
                PROGRESS_KEY.format(chat_id=request.chat_id), "1", nx=True, px=PROGRESS_INTERVAL_MS
            ):
                return
            text = messages.progress_text(language, request.game, request.level, pages, items, found)
            # One attempt, no waiting: a progress edit must never use up the scan's time.
            resources.telegram().edit_message_text(request.chat_id, request.message_id, text, policy=ONCE)
        except (redis.RedisError, TelegramSendError, TelegramNotConfigured) as exc:
            log.warning("Progress update for scan %s skipped: %r", request.task_id, exc)

    return report


def deliver(resources: Resources, request: ScanRequest, text: str) -> None:
    """Put ``text`` into the user's "queued" message; send it once as a new message if that is impossible."""
    try:
        sender = resources.telegram()
        if request.message_id is not None:
            try:
                sender.edit_message_text(request.chat_id, request.message_id, text)
                return
            except TelegramSendError as exc:
                if exc.status != 400:  # deleted or too old to edit: a new message below; anything else: give up
                    raise
                log.info("Could not edit message %s (%s); sending the result anew", request.message_id, exc.description)
        send_once(sender, resources.database, f"arbitrage:{request.task_id}", request.chat_id, text)
    except (TelegramSendError, TelegramNotConfigured) as exc:
        # ERROR: one Sentry event (logging integration); the scan itself is stored and stays completed.
        log.error("Could not deliver the result of scan task %s to chat %s: %s", request.task_id, request.chat_id, exc)
