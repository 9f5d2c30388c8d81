"""One DMarket rate limit shared by every worker process and host, kept in Redis.

GCRA with reservations: a Lua script (atomic, on Redis's own clock so host clocks do not matter) keeps the
"theoretical arrival time" of the next request and hands each caller the slot after it. The caller sleeps
until its slot, so N processes together send at most one request per interval: no polling, no thundering
herd, and no 429s to discover the limit.

DMarket counts requests in fixed one-second windows of its own clock (Kong's X-RateLimit-*-Second). Slots
spaced exactly 1/R apart can still land R+1 in one window when network jitter delays the first request of
a second more than the last; spacing slots by (1 s + margin) / R makes that need more jitter than the margin.
A caller that comes late for its slot loses it: letting it catch up would eat into the margin, and a
429 costs every process a whole Retry-After.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from worker.dmarket.errors import RateBudgetExhausted

# Reserve the next slot: returns the microseconds to wait for it, or -wait when that exceeds the cap
# (nothing is reserved then, so a refused caller does not push everyone else back).
_RESERVE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then return -wait end
local ttl_ms = math.ceil((tat + interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', ttl_ms)
return wait
"""

# After a 429, nobody may send before now + Retry-After: push the next slot at least that far out.
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

DEFAULT_MARGIN_MS = 20.0
DEFAULT_MAX_WAIT_S = 60.0


class SharedRateLimiter:
    """At most ``rate_per_s`` acquisitions per second across every process using the same Redis ``key``."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        rate_per_s: float,
        margin_ms: float = DEFAULT_MARGIN_MS,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if margin_ms < 0:
            raise ValueError(f"margin_ms must be >= 0, got {margin_ms}")
        self.key = key
        self.rate_per_s = rate_per_s
        self.interval_us = round((1_000_000 + margin_ms * 1000) / rate_per_s)
        self._max_wait_us = round(max_wait_s * 1_000_000)
        self._reserve = client.register_script(_RESERVE)
        self._penalize = client.register_script(_PENALIZE)
        self._sleep = sleep

    def acquire(self) -> float:
        """Wait for this process's slot and return how long that took, in seconds."""
        wait_us = int(self._reserve(keys=[self.key], args=[self.interval_us, self._max_wait_us]))
        if wait_us < 0:
            # The queue of reservations is longer than anyone should wait: refuse before asking DMarket.
            raise RateBudgetExhausted(wait_s=-wait_us / 1_000_000)
        wait_s = wait_us / 1_000_000
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s

    def penalize(self, retry_after_s: float) -> None:
        """Hold every process back for ``retry_after_s`` (DMarket said 429 with this Retry-After)."""
        self._penalize(keys=[self.key], args=[round(retry_after_s * 1_000_000)])
