"""The user's one scan slot, held by the handler as an ``async with`` block until a worker owns the scan.

Every way out of the block gives the slot back — the "queued" reply failed, the enqueue failed, the handler
was cancelled, a bug — unless the block handed it over (:meth:`ScanSlot.hand_over`) once the task was queued;
from then on the scan's worker releases it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import redis.asyncio
from redis.exceptions import RedisError

from common.redis_scripts import RELEASE_IF_OWNER
from common.scan_slot import SCAN_SLOT_TTL_S, slot_key

log = logging.getLogger(__name__)

# The bot's event loop must not wait on a dead Redis for long (DESIGN.md §1).
SLOT_TIMEOUT_S = 1.0


class SlotTaken(Exception):
    """Another scan of this user is still running."""


class SlotUnavailable(Exception):
    """Redis did not answer the claim in time; nothing was claimed (Redis is the broker too: nothing can run)."""


class ScanSlot:
    def __init__(self, user_id: int, task_id: str) -> None:
        self.user_id = user_id
        self.task_id = task_id
        self.handed_over = False

    def hand_over(self) -> None:
        """The task is queued: its worker releases the slot from now on."""
        self.handed_over = True


@asynccontextmanager
async def scan_slot(
    client: redis.asyncio.Redis, user_id: int, task_id: str, ttl_s: int = SCAN_SLOT_TTL_S
) -> AsyncIterator[ScanSlot]:
    """Claim the user's slot for ``task_id``; SlotTaken if it is held, SlotUnavailable if Redis fails."""
    try:
        claimed = await asyncio.wait_for(client.set(slot_key(user_id), task_id, nx=True, ex=ttl_s), SLOT_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        raise SlotUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if not claimed:
        raise SlotTaken(user_id)
    slot = ScanSlot(user_id, task_id)
    try:
        yield slot
    finally:
        if not slot.handed_over:
            # Shielded: a cancelled handler still gives the slot back (the release is one short call).
            await asyncio.shield(_release(client, slot))


async def _release(client: redis.asyncio.Redis, slot: ScanSlot) -> None:
    try:
        release: Awaitable[object] = client.eval(RELEASE_IF_OWNER, 1, slot_key(slot.user_id), slot.task_id)  # type: ignore[assignment]
        await asyncio.wait_for(release, SLOT_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:  # it expires by itself; the user waits SCAN_SLOT_TTL_S at worst
        log.warning("Could not release the scan slot of user %s: %r", slot.user_id, exc)
