"""What a scan tells the user in Telegram: throttled progress edits, and the final text in the "queued" message."""

from __future__ import annotations

import logging

import redis
import sentry_sdk

from common.retry import ONCE
from worker.arbitrage import messages
from worker.arbitrage.model import ScanRequest
from worker.resources import Resources
from worker.telegram import outbox
from worker.telegram.sender import TelegramFloodWait, TelegramNotConfigured, TelegramSendError

log = logging.getLogger(__name__)

# Telegram's description when the user blocked the bot: their choice, not a failure to report.
BLOCKED = "bot was blocked by the user"

# Telegram allows about one message per second per chat; progress is a courtesy, so leave room for others.
PROGRESS_INTERVAL_MS = 2_000
PROGRESS_KEY = "arbitrage:progress:{chat_id}"


class Progress:
    """Edits the user's message while a scan runs: pages read, or a wait for DMarket's rate limit.

    A courtesy: at most one edit per chat per interval across every worker (SET NX with a TTL is the whole
    throttle), one attempt each, no waiting, and a failure never fails the scan.
    """

    def __init__(self, resources: Resources, request: ScanRequest) -> None:
        self._resources = resources
        self._request = request
        self._page = 0

    def page(self, pages: int, items: int, found: int) -> None:
        self._page = pages
        language = self._request.reply_language(self._resources.settings.bot_language)
        request = self._request
        self._edit(messages.progress_text(language, request.game, request.level, pages, items, found), 0.0)

    def valuing(self, done: int, total: int) -> None:
        """Looking titles up (recent sales go at 6 a second): how far along."""
        language = self._resources.settings.bot_language
        request = self._request
        self._edit(messages.valuing_text(language, request.game, request.level, done, total), 0.0)

    def resumed(self) -> None:
        """The scan starts again: its earlier run was cut off (the worker stopped, Redis went away)."""
        language = self._request.reply_language(self._resources.settings.bot_language)
        self._edit(messages.resumed_text(language, self._request.game, self._request.level), 1.5)

    def waiting(self, wait_s: float) -> None:
        """Worth a second in the chat's queue: the scan is about to sit still for ``wait_s`` (at least 2 s)."""
        language = self._request.reply_language(self._resources.settings.bot_language)
        request = self._request
        self._edit(messages.waiting_text(language, request.game, request.level, self._page + 1, wait_s), 1.5)

    def _edit(self, text: str, flood_wait_s: float) -> None:
        request = self._request
        if request.message_id is None:
            return
        try:
            key = PROGRESS_KEY.format(chat_id=request.chat_id)
            if not self._resources.redis.set(key, "1", nx=True, px=PROGRESS_INTERVAL_MS):
                return
            sender = self._resources.telegram()
            sender.edit_message_text(request.chat_id, request.message_id, text, policy=ONCE, flood_wait_s=flood_wait_s)
        except TelegramFloodWait:
            # The chat's slot is taken (the "queued" reply, a moment ago): let the next page try at once.
            self._resources.redis.delete(PROGRESS_KEY.format(chat_id=request.chat_id))
        except (redis.RedisError, TelegramSendError, TelegramNotConfigured) as exc:
            log.warning("Progress update for scan %s skipped: %r", request.task_id, exc)


def deliver(resources: Resources, request: ScanRequest, text: str) -> None:
    """Put ``text`` into the user's "queued" message (or a new one), now or later through the outbox."""
    try:
        sender = resources.telegram()
    except TelegramNotConfigured:
        log.info("TELEGRAM_BOT_TOKEN is not set: the result of scan task %s is only stored", request.task_id)
        return
    key = f"arbitrage:{request.task_id}"
    result = outbox.deliver(sender, resources.database, key, request.chat_id, text, request.message_id)
    if result.status != outbox.REFUSED or (result.error and BLOCKED in result.error):
        return  # delivered, or kept until Telegram takes it; a user who blocked the bot chose so
    # ERROR: one Sentry event (logging integration), component=telegram; the scan itself stays as stored.
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("component", "telegram")
        log.error(
            "Could not deliver the result of scan task %s to chat %s: %s",
            request.task_id,
            request.chat_id,
            result.error,
        )
