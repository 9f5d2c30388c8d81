"""One running scan per user: a Redis key the bot sets when it accepts /arbitrage and the worker clears.

The key holds the scan's task id, so a worker only clears its own scan, and it expires on its own if a
worker dies for good (the bot then accepts a new scan after at most ``SCAN_GUARD_TTL_S``).
"""

from __future__ import annotations

import redis
import redis.asyncio

from common.redis_scripts import RELEASE_IF_OWNER

# Long enough for a scan's worst case, every attempt (1 + 3 database retries) running to its 270 s hard limit
# plus the retry waits (~20 min); short enough that a lost scan does not lock a user out for long.
SCAN_GUARD_TTL_S = 30 * 60


def guard_key(user_id: int) -> str:
    return f"arbitrage:running:{user_id}"


async def acquire(client: redis.asyncio.Redis, user_id: int, task_id: str, ttl_s: int = SCAN_GUARD_TTL_S) -> bool:
    """Claim the user's scan slot for ``task_id``; False when another scan of theirs is still running."""
    return bool(await client.set(guard_key(user_id), task_id, nx=True, ex=ttl_s))


async def release_async(client: redis.asyncio.Redis, user_id: int, task_id: str) -> None:
    """Give the slot back (the bot could not enqueue the scan)."""
    await client.eval(RELEASE_IF_OWNER, 1, guard_key(user_id), task_id)  # type: ignore[misc]


def release(client: redis.Redis, user_id: int, task_id: str) -> None:
    """Give the slot back when the scan has finished, whatever the outcome."""
    client.eval(RELEASE_IF_OWNER, 1, guard_key(user_id), task_id)
