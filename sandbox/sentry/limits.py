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
# Limits sentry.io applies whatever the configuration: Resolve an Event ID allows 1 request/s
# (per IP, user and organization). An explicit `rate_limits` entry for the endpoint overrides it.
BUILTIN_LIMITS = {"eventids": 1}


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
        if endpoint in self.limits:
            return self.limits[endpoint]
        return BUILTIN_LIMITS.get(endpoint, self.limits.get(WILDCARD, 0))

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


FAULT_METHODS = frozenset({"GET", "PUT", "DELETE", "POST"})
MAX_FAULT_DELAY_S = 120.0  # longer holds would outlive any client timeout worth testing


@dataclass
class Fault:
    """The next ``count`` matching requests of ``endpoint`` (or ``*``) are held and/or answered differently.

    ``delay_s`` holds the request first; then ``status`` replaces the answer, ``drop`` (ingestion only)
    answers 200 like Sentry but stores nothing, and with neither the request proceeds normally, so its
    answer reflects the state after the hold. ``method`` limits the fault to one HTTP method.
    """

    endpoint: str
    status: int | None = None
    count: int = 1
    retry_after_s: int = 1
    delay_s: float = 0.0
    method: str | None = None
    drop: bool = False

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise ValueError("each fault must be an object")
        unknown = set(data) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault keys {sorted(unknown)}; known: {sorted(FAULT_KEYS)}")
        status = None if data.get("status") is None else int(data["status"])
        if status is not None and status not in FAULT_STATUSES:
            raise ValueError(f"fault status must be one of {sorted(FAULT_STATUSES)}, got {status}")
        count = int(data.get("count", 1))
        if count < 1:
            raise ValueError("fault count must be >= 1")
        delay_s = float(data.get("delay_s", 0))
        if not 0 <= delay_s <= MAX_FAULT_DELAY_S:
            raise ValueError(f"fault delay_s must be 0..{MAX_FAULT_DELAY_S:g}")
        method = None if data.get("method") is None else str(data["method"]).upper()
        if method is not None and method not in FAULT_METHODS:
            raise ValueError(f"fault method must be one of {sorted(FAULT_METHODS)}")
        endpoint = str(data.get("endpoint", WILDCARD))
        drop = data.get("drop", False)
        if not isinstance(drop, bool):
            raise ValueError("fault drop must be true or false")
        if drop and (endpoint != "envelope" or status is not None):
            raise ValueError('drop applies to endpoint "envelope" only, and excludes status')
        if status is None and not drop and delay_s == 0:
            raise ValueError("a fault needs a status, a delay_s or drop")
        return cls(endpoint, status, count, int(data.get("retry_after", 1)), delay_s, method, drop)

    def applies_to(self, endpoint: str, method: str) -> bool:
        return self.endpoint in (endpoint, WILDCARD) and self.method in (None, method)

    def as_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "status": self.status,
            "count": self.count,
            "retry_after": self.retry_after_s,
            "delay_s": self.delay_s,
            "method": self.method,
            "drop": self.drop,
        }


FAULT_KEYS = frozenset({"endpoint", "status", "count", "retry_after", "delay_s", "method", "drop"})


@dataclass
class FaultQueue:
    faults: list[Fault] = field(default_factory=list)

    def take(self, endpoint: str, method: str) -> Fault | None:
        """Consume one request from the first fault that applies to ``endpoint`` and ``method``."""
        for fault in self.faults:
            if fault.applies_to(endpoint, method):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None
