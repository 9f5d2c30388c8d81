"""Wait, from the event loop, for a worker's answer pushed onto a Redis list (no result backend involved)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis.asyncio

from common.contract import REPLY_KEY_PREFIX


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
