"""Sentry's per-endpoint rate limits and an injectable fault queue for retry tests."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WILDCARD = "*"
# Reported (never enforced) when an endpoint has no limit, so clients that pace themselves on
# X-Sentry-Rate-Limit-Remaining never see it run out.
UNLIMITED_REPORTED = 1_000_000
FAULT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    over_concurrency: bool  # refused because too many requests are in flight, not for the rate
    limit: int
    remaining: int
    reset_epoch_s: int
    concurrent_limit: int
    concurrent_remaining: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Sentry-Rate-Limit-Limit": str(self.limit),
            "X-Sentry-Rate-Limit-Remaining": str(self.remaining),
            "X-Sentry-Rate-Limit-Reset": str(self.reset_epoch_s),
            "X-Sentry-Rate-Limit-ConcurrentLimit": str(self.concurrent_limit),
            "X-Sentry-Rate-Limit-ConcurrentRemaining": str(self.concurrent_remaining),
        }


@dataclass
class RateLimiter:
    """Fixed one-second windows per endpoint, like Sentry's ``RateLimit(limit, window=1)``.

    ``limits`` maps endpoint names (or ``*``) to requests per second; 0 or absent means unlimited.
    """

    limits: dict[str, int] = field(default_factory=dict)
    concurrent_limit: int = 25
    clock: Callable[[], float] = time.time
    _windows: dict[str, tuple[int, int]] = field(default_factory=dict)  # endpoint -> (window second, count)
    _in_flight: dict[str, int] = field(default_factory=dict)

    def limit_for(self, endpoint: str) -> int:
        return self.limits.get(endpoint, self.limits.get(WILDCARD, 0))

    def acquire(self, endpoint: str) -> RateDecision:
        """Count one request; the caller must :meth:`release` it when allowed."""
        now = self.clock()
        window = math.floor(now)
        started, count = self._windows.get(endpoint, (window, 0))
        if started != window:
            count = 0
        count += 1
        self._windows[endpoint] = (window, count)
        limit = self.limit_for(endpoint)
        in_flight = self._in_flight.get(endpoint, 0)
        within_rate = limit <= 0 or count <= limit
        within_concurrency = self.concurrent_limit <= 0 or in_flight < self.concurrent_limit
        allowed = within_rate and within_concurrency
        if allowed:
            in_flight += 1
            self._in_flight[endpoint] = in_flight
        reported_limit = limit if limit > 0 else UNLIMITED_REPORTED
        return RateDecision(
            allowed=allowed,
            over_concurrency=within_rate and not within_concurrency,
            limit=reported_limit,
            remaining=max(0, reported_limit - count),
            reset_epoch_s=window + 1,
            concurrent_limit=self.concurrent_limit,
            concurrent_remaining=max(0, self.concurrent_limit - in_flight),
        )

    def release(self, endpoint: str) -> None:
        self._in_flight[endpoint] = max(0, self._in_flight.get(endpoint, 0) - 1)


@dataclass
class Fault:
    """The next ``count`` responses of ``endpoint`` (or ``*``) are replaced by ``status``."""

    endpoint: str
    status: int
    count: int = 1
    retry_after_s: int = 1

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise ValueError("each fault must be an object")
        status = int(data["status"])
        if status not in FAULT_STATUSES:
            raise ValueError(f"fault status must be one of {sorted(FAULT_STATUSES)}, got {status}")
        count = int(data.get("count", 1))
        if count < 1:
            raise ValueError("fault count must be >= 1")
        return cls(str(data.get("endpoint", WILDCARD)), status, count, int(data.get("retry_after", 1)))

    def as_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "status": self.status,
            "count": self.count,
            "retry_after": self.retry_after_s,
        }


@dataclass
class FaultQueue:
    faults: list[Fault] = field(default_factory=list)

    def take(self, endpoint: str) -> Fault | None:
        """Consume one response from the first fault that applies to ``endpoint``."""
        for fault in self.faults:
            if fault.endpoint in (endpoint, WILDCARD):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None
