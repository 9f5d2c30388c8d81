"""Mutable sandbox state: runtime config, pending faults, rate-limit windows, request log and stats.

Only the server's event loop touches it (the control API is HTTP too), so it needs no locks.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, Self, TypedDict, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from sandbox.dmarket.endpoints import Endpoint, Family
from sandbox.dmarket.faults import HOSTILE_KINDS, default_endpoint
from sandbox.dmarket.signing import DEMO_PUBLIC_KEY_HEX, normalize_public_key

DEFAULT_SEED = 1
DEFAULT_ITEMS_PER_GAME = 2_000
LARGE_ITEMS_PER_GAME = 20_000  # the benchmark market; still starts in well under 2 s
# DMarket's documented limits (support article "What are the rate limits for requests"): with API keys
# (per account) market items 10 RPS, last sales 6 RPS, other methods 20 RPS together; without keys (per
# IP) market items 2 RPS, other methods 6 RPS together.
DEFAULT_RATE_LIMIT_RPS = 10
DEFAULT_KEYLESS_RATE_LIMIT_RPS = 2
DEFAULT_LAST_SALES_RATE_LIMIT_RPS = 6
DEFAULT_OTHER_RATE_LIMIT_RPS = 20
DEFAULT_KEYLESS_OTHER_RATE_LIMIT_RPS = 6
DEFAULT_MAX_CLOCK_SKEW_S = 120  # DMarket refuses an X-Sign-Date older than 2 minutes
REQUEST_LOG_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """Start-up settings; ``POST /_sandbox/reset`` returns the runtime config to these."""

    seed: int = DEFAULT_SEED
    items_per_game: int = DEFAULT_ITEMS_PER_GAME
    rate_limit_rps: int = DEFAULT_RATE_LIMIT_RPS  # market items, signed; 0 = unlimited
    keyless_rate_limit_rps: int = DEFAULT_KEYLESS_RATE_LIMIT_RPS  # market items, keyless; 0 = unlimited
    public_keys: tuple[str, ...] = (DEMO_PUBLIC_KEY_HEX,)
    max_clock_skew_s: int = DEFAULT_MAX_CLOCK_SKEW_S
    last_sales_rate_limit_rps: int = DEFAULT_LAST_SALES_RATE_LIMIT_RPS
    other_rate_limit_rps: int = DEFAULT_OTHER_RATE_LIMIT_RPS
    keyless_other_rate_limit_rps: int = DEFAULT_KEYLESS_OTHER_RATE_LIMIT_RPS
    # Unix seconds that sale ages count back from; None = the moment the server is built.
    sales_anchor: int | None = None


PublicKeyHex = Annotated[str, AfterValidator(normalize_public_key)]


_EndpointField = Field(default=None, description="only requests to this endpoint; null = any API endpoint")


class FailNext(BaseModel):
    """The next ``count`` API requests get HTTP ``status`` (a 5xx)."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    status: int = Field(default=503, ge=500, le=599)
    endpoint: Endpoint | None = _EndpointField


class HoldNext(BaseModel):
    """The next ``count`` API requests are held ``hold_ms`` before being answered (a client timeout)."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    hold_ms: int = Field(ge=1)
    endpoint: Endpoint | None = _EndpointField


class ThrottleNext(BaseModel):
    """The next ``count`` API requests get 429 with ``Retry-After: retry_after_s`` (a 429 storm)."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    retry_after_s: int = Field(default=1, ge=1)
    endpoint: Endpoint | None = _EndpointField


class HangNext(BaseModel):
    """The next ``count`` API requests get nothing for ``hang_ms``, then the gateway's 504."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    hang_ms: int = Field(ge=1)
    endpoint: Endpoint | None = _EndpointField


class DripNext(BaseModel):
    """The next ``count`` API responses send their body ``chunk_bytes`` at a time, ``interval_ms`` apart."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    interval_ms: int = Field(ge=1)
    chunk_bytes: int = Field(default=1, ge=1)
    endpoint: Endpoint | None = _EndpointField


class CorruptNext(BaseModel):
    """The next ``count`` 200 responses of ``endpoint`` get the hostile body ``kind`` (see ``faults``)."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    count: int = Field(default=1, ge=0)
    endpoint: Endpoint | None = None  # default: market items if the kind applies there, else its only one

    @model_validator(mode="after")
    def _known_kind_for_endpoint(self) -> Self:
        kind = HOSTILE_KINDS.get(self.kind)
        if kind is None:
            raise ValueError(f"unknown hostile body kind {self.kind!r} (GET /_sandbox/faults lists them)")
        if self.endpoint is None:
            self.endpoint = default_endpoint(kind)
        elif self.endpoint not in kind.endpoints:
            allowed = ", ".join(sorted(kind.endpoints))
            raise ValueError(f"kind {self.kind!r} applies to {allowed}, not {self.endpoint}")
        return self


class SignedKeylessLimitsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signed: int | None = Field(default=None, ge=0)
    keyless: int | None = Field(default=None, ge=0)


class SignedLimitPatch(BaseModel):
    """Last sales has no keyless limit of its own: keyless last-sales requests count as ``other``."""

    model_config = ConfigDict(extra="forbid")
    signed: int | None = Field(default=None, ge=0)


class RateLimitsPatch(BaseModel):
    """Requests per second per family; 0 = unlimited. Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    market_items: SignedKeylessLimitsPatch | None = None
    last_sales: SignedLimitPatch | None = None
    other: SignedKeylessLimitsPatch | None = None


class ConfigPatch(BaseModel):
    """Body of ``POST /_sandbox/config``: every field optional; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    rate_limit_rps: int | None = Field(default=None, ge=0)  # = rate_limits.market_items.signed
    keyless_rate_limit_rps: int | None = Field(default=None, ge=0)  # = rate_limits.market_items.keyless
    rate_limits: RateLimitsPatch | None = None
    max_clock_skew_s: int | None = Field(default=None, ge=0)
    latency_ms: int | None = Field(default=None, ge=0)
    public_keys: list[PublicKeyHex] | None = None  # replaces the accepted set
    sales_anchor: int | None = Field(default=None, ge=0)
    fail_next: FailNext | None = None
    hold_next: HoldNext | None = None
    throttle_next: ThrottleNext | None = None
    hang_next: HangNext | None = None
    drip_next: DripNext | None = None
    corrupt_next: CorruptNext | None = None


class _CountedFault(Protocol):
    @property
    def count(self) -> int: ...

    @property
    def endpoint(self) -> Endpoint | None: ...

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self: ...


_Fault = TypeVar("_Fault", bound=_CountedFault)


def _take(fault: _Fault, endpoint: Endpoint) -> tuple[_Fault, bool]:
    """The fault with one use consumed, and whether it applied to a request to ``endpoint``."""
    if fault.count == 0 or fault.endpoint not in (None, endpoint):
        return fault, False
    return fault.model_copy(update={"count": fault.count - 1}), True


@dataclass
class FamilyLimits:
    signed: int
    keyless: int | None  # None: this family has no keyless budget of its own


@dataclass
class RuntimeConfig:
    max_clock_skew_s: int
    public_keys: frozenset[str]
    rate_limits: dict[Family, FamilyLimits]
    sales_anchor: int
    latency_ms: int = 0
    fail_next: FailNext = field(default_factory=lambda: FailNext(count=0))
    hold_next: HoldNext = field(default_factory=lambda: HoldNext(count=0, hold_ms=1))
    throttle_next: ThrottleNext = field(default_factory=lambda: ThrottleNext(count=0))
    hang_next: HangNext = field(default_factory=lambda: HangNext(count=0, hang_ms=1))
    drip_next: DripNext = field(default_factory=lambda: DripNext(count=0, interval_ms=1))
    corrupt_next: dict[Endpoint, CorruptNext] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: SandboxSettings, sales_anchor: int) -> RuntimeConfig:
        return cls(
            max_clock_skew_s=settings.max_clock_skew_s,
            public_keys=frozenset(normalize_public_key(key) for key in settings.public_keys),
            rate_limits={
                Family.MARKET_ITEMS: FamilyLimits(settings.rate_limit_rps, settings.keyless_rate_limit_rps),
                Family.LAST_SALES: FamilyLimits(settings.last_sales_rate_limit_rps, None),
                Family.OTHER: FamilyLimits(settings.other_rate_limit_rps, settings.keyless_other_rate_limit_rps),
            },
            sales_anchor=sales_anchor,
        )

    @property
    def rate_limit_rps(self) -> int:
        return self.rate_limits[Family.MARKET_ITEMS].signed

    @property
    def keyless_rate_limit_rps(self) -> int:
        keyless = self.rate_limits[Family.MARKET_ITEMS].keyless
        assert keyless is not None
        return keyless

    def limit_for(self, family: Family, *, signed: bool) -> int:
        """Requests per second allowed for the family (0 = unlimited)."""
        limits = self.rate_limits[family]
        return limits.signed if signed else limits.keyless or 0

    def apply(self, patch: ConfigPatch) -> None:
        for name in patch.model_fields_set:
            value = getattr(patch, name)
            if value is None:
                continue  # an explicit null means "leave as is", like an absent field
            if name == "public_keys":
                self.public_keys = frozenset(value)
            elif name == "rate_limit_rps":
                self.rate_limits[Family.MARKET_ITEMS].signed = value
            elif name == "keyless_rate_limit_rps":
                self.rate_limits[Family.MARKET_ITEMS].keyless = value
            elif name == "rate_limits":
                self._apply_rate_limits(value)
            elif name == "corrupt_next":
                assert value.endpoint is not None  # CorruptNext fills it in
                self.corrupt_next[value.endpoint] = value
            else:
                setattr(self, name, value)

    def _apply_rate_limits(self, patch: RateLimitsPatch) -> None:
        for family in Family:
            family_patch: SignedKeylessLimitsPatch | SignedLimitPatch | None = getattr(patch, family.value)
            if family_patch is None:
                continue
            limits = self.rate_limits[family]
            if family_patch.signed is not None:
                limits.signed = family_patch.signed
            if isinstance(family_patch, SignedKeylessLimitsPatch) and family_patch.keyless is not None:
                limits.keyless = family_patch.keyless

    def take_fault_status(self, endpoint: Endpoint) -> int | None:
        """Consume one injected 5xx for a request to ``endpoint``, if one is pending."""
        self.fail_next, taken = _take(self.fail_next, endpoint)
        return self.fail_next.status if taken else None

    def take_hold_ms(self, endpoint: Endpoint) -> int | None:
        """Consume one injected hold, if one is pending."""
        self.hold_next, taken = _take(self.hold_next, endpoint)
        return self.hold_next.hold_ms if taken else None

    def take_throttle_retry_after(self, endpoint: Endpoint) -> int | None:
        """Consume one injected 429, if one is pending."""
        self.throttle_next, taken = _take(self.throttle_next, endpoint)
        return self.throttle_next.retry_after_s if taken else None

    def take_hang_ms(self, endpoint: Endpoint) -> int | None:
        """Consume one injected hang, if one is pending."""
        self.hang_next, taken = _take(self.hang_next, endpoint)
        return self.hang_next.hang_ms if taken else None

    def take_drip(self, endpoint: Endpoint) -> DripNext | None:
        """Consume one slow-drip response, if one is pending."""
        self.drip_next, taken = _take(self.drip_next, endpoint)
        return self.drip_next if taken else None

    def take_corruption(self, endpoint: Endpoint) -> str | None:
        """Consume one hostile body for a 200 response of ``endpoint``; the kind's name."""
        pending = self.corrupt_next.get(endpoint)
        if pending is None or pending.count == 0:
            return None
        self.corrupt_next[endpoint] = pending.model_copy(update={"count": pending.count - 1})
        return pending.kind

    def peek_corruption(self, endpoint: Endpoint) -> str | None:
        """The kind the next 200 response of ``endpoint`` will get, without consuming it."""
        pending = self.corrupt_next.get(endpoint)
        return pending.kind if pending is not None and pending.count else None

    def as_json(self) -> dict[str, Any]:
        return {
            "rate_limit_rps": self.rate_limit_rps,
            "keyless_rate_limit_rps": self.keyless_rate_limit_rps,
            "rate_limits": {
                family.value: {"signed": limits.signed}
                | ({} if limits.keyless is None else {"keyless": limits.keyless})
                for family, limits in self.rate_limits.items()
            },
            "max_clock_skew_s": self.max_clock_skew_s,
            "public_keys": sorted(self.public_keys),
            "sales_anchor": self.sales_anchor,
            "latency_ms": self.latency_ms,
            "fail_next": self.fail_next.model_dump(mode="json"),
            "hold_next": self.hold_next.model_dump(mode="json"),
            "throttle_next": self.throttle_next.model_dump(mode="json"),
            "hang_next": self.hang_next.model_dump(mode="json"),
            "drip_next": self.drip_next.model_dump(mode="json"),
            "corrupt_next": {
                endpoint.value: {"kind": pending.kind, "count": pending.count}
                for endpoint, pending in sorted(self.corrupt_next.items())
                if pending.count
            },
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
    endpoint: str  # an Endpoint value
    status: int
    api_key: str | None  # the X-Api-Key header as sent (a public key), never the signature
    client: str | None


class _Counts:
    def __init__(self) -> None:
        self.by_status: Counter[int] = Counter()
        self.served_per_second: Counter[int] = Counter()

    def record(self, entry: LoggedRequest) -> None:
        self.by_status[entry["status"]] += 1
        if 200 <= entry["status"] < 300:
            self.served_per_second[math.floor(entry["time"])] += 1

    def stats(self) -> dict[str, Any]:
        return {
            "requests_total": sum(self.by_status.values()),
            "served_total": sum(n for status, n in self.by_status.items() if 200 <= status < 300),
            "throttled_total": self.by_status[429],
            "responses_by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            # The most 2xx responses in any one clock second: what a client-side limiter must keep
            # at or under the limit.
            "peak_served_per_second": max(self.served_per_second.values(), default=0),
        }


class RequestLog:
    """The last :data:`REQUEST_LOG_SIZE` API requests plus running totals for ``/_sandbox/stats``."""

    def __init__(self) -> None:
        self.entries: deque[LoggedRequest] = deque(maxlen=REQUEST_LOG_SIZE)
        self._all = _Counts()
        self._by_endpoint = {endpoint: _Counts() for endpoint in Endpoint}

    def record(self, entry: LoggedRequest) -> None:
        self.entries.append(entry)
        self._all.record(entry)
        self._by_endpoint[Endpoint(entry["endpoint"])].record(entry)

    def stats(self, now: float) -> dict[str, Any]:
        return {
            **self._all.stats(),
            "requests_last_second": sum(1 for entry in self.entries if now - 1 < entry["time"] <= now),
            "by_endpoint": {endpoint.value: counts.stats() for endpoint, counts in self._by_endpoint.items()},
        }
