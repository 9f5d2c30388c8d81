"""Rate limits shared by every worker process and host, kept in Redis: DMarket's budgets, Telegram's flood limits.

GCRA with reservations: a Lua script (atomic, on Redis's own clock so host clocks do not matter) keeps, per
*lane*, the "theoretical arrival time" of the next call and hands each caller the slot after it. A call can
take several lanes at once (Telegram: the bot's global lane and the chat's own); its slot is the latest of
theirs, reserved on all of them in the same step. The caller sleeps until its slot, so N processes together
stay within every lane's rate: no polling, no thundering herd, and no 429s to discover the limit.

DMarket counts requests in fixed one-second windows of its own clock (Kong's X-RateLimit-*-Second). Slots
spaced exactly 1/R apart can still land R+1 in one window when network jitter delays the first request of
a second more than the last; spacing slots by (1 s + margin) / R makes that need more jitter than the margin.
A caller that comes late for its slot loses it: letting it catch up would eat into the margin, and a
429 costs every process a whole Retry-After.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

# Reserve the next slot on every lane (KEYS; ARGV[1] = the cap on waiting, ARGV[2..] = each lane's interval,
# all in microseconds): returns the microseconds to wait, or -wait when that exceeds the cap (nothing is
# reserved then, so a refused caller does not push everyone else back).
_RESERVE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local max_wait = tonumber(ARGV[1])
local slot = now
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > slot then slot = tat end
end
local wait = slot - now
if wait > max_wait then return -wait end
for i = 1, #KEYS do
  local next_tat = slot + tonumber(ARGV[i + 1])
  redis.call('SET', KEYS[i], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
end
return wait
"""

# After a 429, nobody may use the lane before now + Retry-After: push its next slot at least that far out.
_PENALIZE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local until_us = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < until_us then
  redis.call('SET', KEYS[1], string.format('%d', until_us), 'PX', math.ceil((until_us - now) / 1000) + 1000)
end
return 0
"""

DEFAULT_MAX_WAIT_S = 60.0


@dataclass(frozen=True)
class Lane:
    """One shared budget: calls on ``key`` at most one per ``interval_us`` microseconds."""

    key: str
    interval_us: int

    @classmethod
    def per_second(cls, key: str, rate_per_s: float, margin_ms: float = 0.0) -> Lane:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if margin_ms < 0:
            raise ValueError(f"margin_ms must be >= 0, got {margin_ms}")
        return cls(key, round((1_000_000 + margin_ms * 1000) / rate_per_s))

    @classmethod
    def per_minute(cls, key: str, rate_per_min: float) -> Lane:
        return cls(key, math.ceil(60_000_000 / rate_per_min))


HOLD_SUFFIX = ":hold"


def hold_key(lane_key: str) -> str:
    return lane_key + HOLD_SUFFIX


@dataclass(frozen=True)
class Hold:
    """Why a lane is held back (a server's long Retry-After), and for how much longer."""

    lane_key: str
    reason: str
    remaining_s: float


def _hold_of(client: redis.Redis, key: str | bytes) -> Hold | None:
    name = key.decode() if isinstance(key, bytes) else key
    with client.pipeline() as pipe:
        pipe.get(name)
        pipe.pttl(name)
        reason, remaining_ms = pipe.execute()
    if reason is None or remaining_ms is None or remaining_ms <= 0:
        return None
    text = reason.decode() if isinstance(reason, bytes) else str(reason)
    return Hold(name.removesuffix(HOLD_SUFFIX), text, remaining_ms / 1000)


class BudgetExhausted(Exception):
    """Every slot is reserved for longer than the caller may wait; nothing was reserved, nothing sent."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the shared budget is booked for the next {wait_s:.1f}s")
        self.wait_s = wait_s


class SharedRateLimiter:
    """Reservations on shared lanes in one Redis. Create once per process; thread-safe (redis-py is)."""

    def __init__(
        self, client: redis.Redis, max_wait_s: float = DEFAULT_MAX_WAIT_S, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._client = client
        self._max_wait_us = round(max_wait_s * 1_000_000)
        self._reserve = client.register_script(_RESERVE)
        self._penalize = client.register_script(_PENALIZE)
        self._sleep = sleep

    def reserve(self, lanes: Sequence[Lane], max_wait_s: float | None = None) -> float:
        """Reserve the next common slot of ``lanes`` and return the seconds until it (no sleeping)."""
        cap_us = self._max_wait_us if max_wait_s is None else round(max_wait_s * 1_000_000)
        args = [cap_us, *(lane.interval_us for lane in lanes)]
        wait_us = int(self._reserve(keys=[lane.key for lane in lanes], args=args))
        if wait_us < 0:
            raise BudgetExhausted(wait_s=-wait_us / 1_000_000)
        return wait_us / 1_000_000

    def acquire(self, lanes: Sequence[Lane], max_wait_s: float | None = None) -> float:
        """Wait for the common slot of ``lanes`` and return how long that took, in seconds."""
        wait_s = self.reserve(lanes, max_wait_s)
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s

    def penalize(self, lane: Lane, retry_after_s: float, reason: str | None = None) -> None:
        """Hold every process back on ``lane`` for ``retry_after_s`` (the server said 429 with this wait).

        With ``reason`` the hold is also recorded (:meth:`hold`), so a caller refused later can say why, and an
        operator can see and lift it (:meth:`lift`): worth it for waits long enough to matter to people.
        """
        self._penalize(keys=[lane.key], args=[round(retry_after_s * 1_000_000)])
        if reason is not None:
            self._client.set(hold_key(lane.key), reason, px=max(1, round(retry_after_s * 1000)))

    def hold(self, lane: Lane) -> Hold | None:
        """The recorded hold on ``lane`` that is still in force, if any."""
        return _hold_of(self._client, hold_key(lane.key))

    def holds(self, prefix: str) -> list[Hold]:
        """Every recorded hold in force on lanes whose key starts with ``prefix``."""
        found = (_hold_of(self._client, key) for key in self._client.scan_iter(match=hold_key(f"{prefix}*")))
        return sorted((hold for hold in found if hold is not None), key=lambda hold: hold.lane_key)

    def lift(self, lane_key: str) -> bool:
        """An operator's decision: forget the hold and the lane's reservations, so calls go out at once."""
        return bool(self._client.delete(hold_key(lane_key), lane_key))
