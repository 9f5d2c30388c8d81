"""What DMarket's API answers, as plain values: the client produces them, the arbitrage engine reads them. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Offer:
    """An item listed for sale, as the market listing reports it."""

    item_id: str
    title: str
    price_cents: int
    suggested_price_cents: int | None  # None: DMarket has no suggested price for it


@dataclass
class RequestStats:
    """What one scan's requests went through; returned with the task result and logged."""

    requests: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    waited_s: float = 0.0  # in the shared rate limiter
    http_s: float = 0.0  # sending and waiting for answers
    malformed: int = 0  # listings skipped because a field was missing or outside what we can hold
    malformed_valuations: int = 0  # aggregated-price entries and sales skipped for the same reason
    by_family: dict[str, int] = field(default_factory=dict)  # requests per endpoint family
