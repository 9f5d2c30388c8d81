"""One running scan per user: a Redis key the bot claims when it accepts /arbitrage and the worker releases.

The key holds the scan's task id, so only that scan's worker clears it, and it expires on its own if a
worker dies for good (the bot then accepts a new scan after at most ``SCAN_SLOT_TTL_S``). The bot's side
is an async context manager (bot/slots.py); the worker's side is :func:`release`.
"""

from __future__ import annotations

import redis

from common.redis_scripts import RELEASE_IF_OWNER

# Long enough for a scan's worst case, every attempt (1 + 3 database retries) running to its 270 s hard limit
# plus the retry waits (~20 min); short enough that a lost scan does not lock a user out for long.
SCAN_SLOT_TTL_S = 30 * 60


def slot_key(user_id: int) -> str:
    return f"arbitrage:running:{user_id}"


def release(client: redis.Redis, user_id: int, task_id: str) -> bool:
    """Give the slot back when the scan has finished, whatever the outcome; False if it was not ours."""
    return bool(client.eval(RELEASE_IF_OWNER, 1, slot_key(user_id), task_id))
