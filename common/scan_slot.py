"""One running scan per user: a Redis key the bot claims when it accepts /arbitrage and the worker releases.

The key holds the scan's task id, so only that scan's worker clears it, and it expires on its own if a
worker dies for good (the bot then accepts a new scan after at most ``SCAN_SLOT_TTL_S``). The bot's side
is an async context manager (bot/slots.py); the worker's side is :func:`release`.
"""

from __future__ import annotations

import redis

from common.redis_scripts import RELEASE_IF_OWNER

# Long enough for a scan's worst case: every attempt (MAX_SCAN_ATTEMPTS) handed out again only after the
# interactive visibility timeout and restore sweep (6.5 min each), plus the database-outage retry waits
# (~35 min; tests/unit/test_visibility.py derives it); short enough that a lost scan does not lock a user out
# for long (the janitor frees it after 20 min anyway).
SCAN_SLOT_TTL_S = 40 * 60


def slot_key(user_id: int) -> str:
    return f"arbitrage:running:{user_id}"


def release(client: redis.Redis, user_id: int, task_id: str) -> bool:
    """Give the slot back when the scan has finished, whatever the outcome; False if it was not ours."""
    return bool(client.eval(RELEASE_IF_OWNER, 1, slot_key(user_id), task_id))
