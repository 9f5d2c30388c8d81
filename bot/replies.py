"""Wait, from the event loop, for a worker's answer pushed onto a Redis list (no result backend involved)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis.asyncio

from common.contract import REPLY_KEY_PREFIX, TaskCall

if TYPE_CHECKING:
    from bot.producer import Producer


class NoAnswer(Exception):
    """No worker answered within the timeout (none running, none consuming the queue, or all busy)."""

    def __init__(self, reply_to: str, timeout_s: float) -> None:
        super().__init__(f"no worker answered on {reply_to} within {timeout_s:g}s")
        self.timeout_s = timeout_s


def new_reply_key() -> str:
    return f"{REPLY_KEY_PREFIX}{uuid.uuid4().hex}"


async def wait_for_reply(client: redis.asyncio.Redis, reply_to: str, timeout_s: float) -> Any:
    """The first JSON answer pushed onto ``reply_to``, or NoAnswer after ``timeout_s``. The list is deleted."""
    try:
        # BLPOP waits on the server: no polling, and the event loop is free meanwhile.
        popped = await client.blpop([reply_to], timeout=timeout_s)  # type: ignore[misc]
    finally:
        await client.delete(reply_to)
    if popped is None:
        raise NoAnswer(reply_to, timeout_s)
    return json.loads(popped[1])


async def ask_workers(
    producer: Producer, client: redis.asyncio.Redis, make_call: Callable[[str], TaskCall], timeout_s: float
) -> Any:
    """Send the task ``make_call(reply_to)`` (dropped unrun after ``timeout_s``) and wait for its answer.

    QueueUnavailable if it could not be queued, NoAnswer if no worker answered in time.
    """
    reply_to = new_reply_key()
    await producer.send(make_call(reply_to), expires_s=timeout_s)
    # The wait itself is bounded on the server (BLPOP timeout); wait_for also bounds a hung connection.
    return await asyncio.wait_for(wait_for_reply(client, reply_to, timeout_s), timeout_s + 1.0)
