"""Mutable sandbox state: runtime config, pending faults, rate-limit windows, request log and stats.

Only the server's event loop touches it (the control API is HTTP too), so it needs no locks.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sandbox.dmarket.signing import DEMO_PUBLIC_KEY_HEX, normalize_public_key

DEFAULT_SEED = 1
DEFAULT_ITEMS_PER_GAME = 2_000
# DMarket's documented market-items limits: 10 RPS with API keys, 2 RPS without.
DEFAULT_RATE_LIMIT_RPS = 10
DEFAULT_KEYLESS_RATE_LIMIT_RPS = 2
DEFAULT_MAX_CLOCK_SKEW_S = 120  # DMarket refuses an X-Sign-Date older than 2 minutes
REQUEST_LOG_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """Start-up settings; ``POST /_sandbox/reset`` returns the runtime config to these."""

    seed: int = DEFAULT_SEED
    items_per_game: int = DEFAULT_ITEMS_PER_GAME
    rate_limit_rps: int = DEFAULT_RATE_LIMIT_RPS  # 0 = unlimited
    keyless_rate_limit_rps: int = DEFAULT_KEYLESS_RATE_LIMIT_RPS  # 0 = unlimited
    public_keys: tuple[str, ...] = (DEMO_PUBLIC_KEY_HEX,)
    max_clock_skew_s: int = DEFAULT_MAX_CLOCK_SKEW_S


PublicKeyHex = Annotated[str, AfterValidator(normalize_public_key)]


class FailNext(BaseModel):
    """The next ``count`` API requests get HTTP ``status`` (a 5xx)."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    status: int = Field(default=503, ge=500, le=599)


class HoldNext(BaseModel):
    """The next ``count`` API requests are held ``hold_ms`` before being answered (a client timeout)."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    hold_ms: int = Field(ge=1)


class ThrottleNext(BaseModel):
    """The next ``count`` API requests get 429 with ``Retry-After: retry_after_s`` (a 429 storm)."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    retry_after_s: int = Field(default=1, ge=1)


class ConfigPatch(BaseModel):
    """Body of ``POST /_sandbox/config``: every field optional; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    rate_limit_rps: int | None = Field(default=None, ge=0)
    keyless_rate_limit_rps: int | None = Field(default=None, ge=0)
    max_clock_skew_s: int | None = Field(default=None, ge=0)
    latency_ms: int | None = Field(default=None, ge=0)
    public_keys: list[PublicKeyHex] | None = None  # replaces the accepted set
    fail_next: FailNext | None = None
    hold_next: HoldNext | None = None
    throttle_next: ThrottleNext | None = None


@dataclass
class RuntimeConfig:
    rate_limit_rps: int
    keyless_rate_limit_rps: int
    max_clock_skew_s: int
    public_keys: frozenset[str]
    latency_ms: int = 0
    fail_next: FailNext = field(default_factory=lambda: FailNext(count=0))
    hold_next: HoldNext = field(default_factory=lambda: HoldNext(count=0, hold_ms=1))
    throttle_next: ThrottleNext = field(default_factory=lambda: ThrottleNext(count=0))

    @classmethod
    def from_settings(cls, settings: SandboxSettings) -> RuntimeConfig:
        return cls(
            rate_limit_rps=settings.rate_limit_rps,
            keyless_rate_limit_rps=settings.keyless_rate_limit_rps,
            max_clock_skew_s=settings.max_clock_skew_s,
            public_keys=frozenset(normalize_public_key(key) for key in settings.public_keys),
        )

    def apply(self, patch: ConfigPatch) -> None:
        for name in patch.model_fields_set:
            value = getattr(patch, name)
            if value is None:
                continue  # an explicit null means "leave as is", like an absent field
            setattr(self, name, frozenset(value) if name == "public_keys" else value)

    def take_fault_status(self) -> int | None:
        """Consume one injected 5xx, if any is pending."""
        if self.fail_next.count == 0:
            return None
        self.fail_next = self.fail_next.model_copy(update={"count": self.fail_next.count - 1})
        return self.fail_next.status

    def take_hold_ms(self) -> int | None:
        """Consume one injected hold, if any is pending."""
        if self.hold_next.count == 0:
            return None
        self.hold_next = self.hold_next.model_copy(update={"count": self.hold_next.count - 1})
        return self.hold_next.hold_ms

    def take_throttle_retry_after(self) -> int | None:
        """Consume one injected 429, if any is pending."""
        if self.throttle_next.count == 0:
            return None
        self.throttle_next = self.throttle_next.model_copy(update={"count": self.throttle_next.count - 1})
        return self.throttle_next.retry_after_s

    def as_json(self) -> dict[str, Any]:
        return {
            "rate_limit_rps": self.rate_limit_rps,
            "keyless_rate_limit_rps": self.keyless_rate_limit_rps,
            "max_clock_skew_s": self.max_clock_skew_s,
            "public_keys": sorted(self.public_keys),
            "latency_ms": self.latency_ms,
            "fail_next": self.fail_next.model_dump(),
            "hold_next": self.hold_next.model_dump(),
            "throttle_next": self.throttle_next.model_dump(),
        }


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the current window ends (rounded up)


class FixedWindowLimiter:
    """Per-identity fixed one-second windows aligned to the wall clock.

    This is how DMarket's gateway counts (its ``X-RateLimit-*-Second`` headers are Kong's): a burst
    that straddles a second boundary can legitimately get up to twice the limit through.
    """

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}  # identity -> (window second, hits)

    def hit(self, identity: str, limit: int, now: float) -> RateDecision:
        second = math.floor(now)
        window, hits = self._windows.get(identity, (second, 0))
        if window != second:
            hits = 0
        reset_s = max(1, math.ceil(second + 1 - now))
        if hits >= limit:
            self._windows[identity] = (second, hits)
            return RateDecision(allowed=False, limit=limit, remaining=0, reset_s=reset_s)
        self._windows[identity] = (second, hits + 1)
        return RateDecision(allowed=True, limit=limit, remaining=limit - hits - 1, reset_s=reset_s)


class LoggedRequest(TypedDict):
    time: float  # unix seconds when the request arrived
    method: str
    path: str  # raw path and query string exactly as received
    status: int
    api_key: str | None  # the X-Api-Key header as sent (a public key), never the signature
    client: str | None


class RequestLog:
    """The last :data:`REQUEST_LOG_SIZE` API requests plus running totals for ``/_sandbox/stats``."""

    def __init__(self) -> None:
        self.entries: deque[LoggedRequest] = deque(maxlen=REQUEST_LOG_SIZE)
        self._by_status: Counter[int] = Counter()
        self._served_per_second: Counter[int] = Counter()

    def record(self, entry: LoggedRequest) -> None:
        self.entries.append(entry)
        self._by_status[entry["status"]] += 1
        if 200 <= entry["status"] < 300:
            self._served_per_second[math.floor(entry["time"])] += 1

    def stats(self, now: float) -> dict[str, Any]:
        return {
            "requests_total": sum(self._by_status.values()),
            "served_total": sum(n for status, n in self._by_status.items() if 200 <= status < 300),
            "throttled_total": self._by_status[429],
            "responses_by_status": {str(status): n for status, n in sorted(self._by_status.items())},
            "requests_last_second": sum(1 for entry in self.entries if now - 1 < entry["time"] <= now),
            # The most 2xx responses in any one clock second: what a client-side limiter must keep
            # at or under the limit.
            "peak_served_per_second": max(self._served_per_second.values(), default=0),
        }
