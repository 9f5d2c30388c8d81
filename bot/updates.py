"""Updates processed concurrently, in order within each chat: one slow chat never holds up the others.

PTB handles one update at a time by default, so a handler waiting on Redis, on a Telegram 429 or on a worker's
answer made every other user wait (20 users' /arbitrage waited up to 20.7 s behind a hung Redis). PTB's own
``concurrent_updates`` runs them at once but loses each chat's order (a user's "/cleanup" and the press of its
button could run the wrong way round).

Here every update of a chat waits its turn behind the chat's previous one, and only then takes one of
``running`` slots: a chat with a backlog waits for itself alone and never occupies the slots other chats need.
PTB's own semaphore (``max_concurrent_updates``) bounds the updates held in memory, waiting or running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# Updates held at once, waiting for their chat or running: a bound on memory, not on throughput.
MAX_HELD_UPDATES = 4096


class _ChatTurn:
    __slots__ = ("holders", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.holders = 0  # updates of the chat waiting or running: the turn is dropped when none are left


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    """At most ``running`` handlers at once; updates of one chat strictly one after another, in arrival order."""

    __slots__ = ("_running", "_turns")

    def __init__(self, running: int) -> None:
        if running < 1:
            raise ValueError(f"running must be at least 1, got {running}")
        super().__init__(max_concurrent_updates=max(running, MAX_HELD_UPDATES))
        self._running = asyncio.BoundedSemaphore(running)
        self._turns: dict[int, _ChatTurn] = {}

    @property
    def chats_waiting(self) -> int:
        """Chats with an update waiting or running now (a gauge for tests and /status)."""
        return len(self._turns)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:  # inline queries, polls…: no chat whose order to keep
            async with self._running:
                await coroutine
            return
        turn = self._turns.get(chat.id)
        if turn is None:
            turn = self._turns[chat.id] = _ChatTurn()
        turn.holders += 1
        try:
            # asyncio.Lock wakes its waiters first in, first out: the chat's updates keep their order.
            async with turn.lock, self._running:
                await coroutine
        finally:
            turn.holders -= 1
            if not turn.holders:
                del self._turns[chat.id]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
