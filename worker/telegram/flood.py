"""Telegram's flood limits for one bot, shared by every worker process and host through Redis.

Telegram allows a bot about 30 messages a second overall, one a second in a chat and 20 a minute in a group
(edits count too). Every worker sends with the same token, so the limits are lanes of the shared limiter
(worker/ratelimit.py): a message takes the bot's lane and its chat's lane in one reservation, and workers
together never earn the 429s that would otherwise stall final results for whole seconds.
"""

from __future__ import annotations

import hashlib

from worker.ratelimit import Lane, SharedRateLimiter

GLOBAL_PER_S = 30.0
PRIVATE_CHAT_PER_S = 1.0
GROUP_PER_MIN = 20.0
# Telegram counts on its own clock; a little air between slots keeps network jitter from bunching them. A
# chat's one message a second gets more: a send delayed 30 ms on a busy host lands its successor 0.97 s after
# it, which Telegram refuses (seen in tests/integration/test_telegram_flood.py on a loaded 2-core machine).
MARGIN_MS = 20.0
CHAT_MARGIN_MS = 150.0


class FloodControl:
    """The lanes a call to one chat takes, and a reservation of them."""

    def __init__(self, limiter: SharedRateLimiter, token: str) -> None:
        self._limiter = limiter
        # The token names the bot; the key carries only a digest of it (Redis keys end up in logs).
        bot = hashlib.sha256(token.encode()).hexdigest()[:16]
        self._prefix = f"telegram:flood:{bot}"
        self._global = Lane.per_second(f"{self._prefix}:all", GLOBAL_PER_S, MARGIN_MS)

    def lanes(self, chat_id: int) -> list[Lane]:
        key = f"{self._prefix}:chat:{chat_id}"
        # Negative ids are groups, supergroups and channels (20 a minute); positive ones are private chats.
        chat = (
            Lane.per_minute(key, GROUP_PER_MIN)
            if chat_id < 0
            else Lane.per_second(key, PRIVATE_CHAT_PER_S, CHAT_MARGIN_MS)
        )
        return [self._global, chat]

    def acquire(self, chat_id: int, max_wait_s: float) -> float:
        """Wait for this chat's next slot; BudgetExhausted if it is further away than ``max_wait_s``."""
        return self._limiter.acquire(self.lanes(chat_id), max_wait_s=max_wait_s)
