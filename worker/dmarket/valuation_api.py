"""The valuation endpoints' wire shapes, parsed strictly: aggregated prices and last sales. Pure, no I/O.

Public clients disagree on some shapes (a price as a string of cents, or an object with ``Amount``; sale
prices in dollars or cents). Only the documented shapes are accepted (docs/sandbox-dmarket.md, DMarket's
swagger): anything else in an entry skips that entry, counted (the caller logs the count), never guessed at.
A body that is not the documented envelope is a DMarketAPIError(200, ...), like a bad market-items page.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from worker.dmarket.errors import DMarketAPIError

log = logging.getLogger(__name__)

AGGREGATED_PRICES_PATH = "/marketplace-api/v1/aggregated-prices"
LAST_SALES_PATH = "/trade-aggregator/v1/last-sales"
MAX_TITLES_PER_CALL = 100
MAX_SALES_LIMIT = 20  # the swagger: "min: 1 max: 20"
BODY_EXCERPT_CHARS = 300
# A sale dated this far past our clock is not a sale that happened: refused (clock skew allowed).
MAX_FUTURE_SKEW_S = 300

Cents = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}$")]  # commonMoney.Amount: a string of cents
Count = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}$")]  # int64 in gRPC-gateway JSON: a string
Dollars = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}\.[0-9]{2}$")]  # a sale price: "12.34"
UnixSeconds = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")]
_STRICT = ConfigDict(strict=True, extra="ignore", frozen=True)


class _Money(BaseModel):
    model_config = _STRICT
    Currency: Literal["USD"]
    Amount: Cents


class _AggregatedEntry(BaseModel):
    model_config = _STRICT
    title: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    orderBestPrice: _Money
    orderCount: Count
    offerBestPrice: _Money
    offerCount: Count


class _Sale(BaseModel):
    model_config = _STRICT
    price: Dollars
    date: UnixSeconds
    # Offer: a buyer took a listing. Target: a seller filled a buy order; the swagger's response enum names
    # the same thing Order, so both are read as the documented buy-order sale.
    txOperationType: Literal["Offer", "Target", "Order"]


@dataclass(frozen=True, slots=True)
class TitlePrices:
    """One title's best buy order (what an instant sale brings) and best offer, in cents; 0 = none."""

    title: str
    order_best_price_cents: int
    order_count: int
    offer_best_price_cents: int
    offer_count: int


@dataclass(frozen=True, slots=True)
class SaleRecord:
    """One completed sale: its price in cents, when (unix seconds), and whether it filled a buy order."""

    price_cents: int
    date_s: int
    into_order: bool  # Target/Order: sold into a buy order; False: a listing was bought (Offer)


@dataclass(frozen=True, slots=True)
class AggregatedPage:
    prices: dict[str, TitlePrices]  # by title; only titles that were asked for, each once
    malformed: int  # entries skipped: not the documented shape, not asked for, or sent twice


@dataclass(frozen=True, slots=True)
class SalesPage:
    sales: tuple[SaleRecord, ...]  # newest first, whatever order they came in
    malformed: int


def aggregated_prices_body(game_id: str, titles: list[str]) -> str:
    """The request body as it is signed and sent (DMarket's example: json.dumps, default separators)."""
    return json.dumps({"filter": {"game": game_id, "titles": titles}, "limit": str(MAX_TITLES_PER_CALL), "cursor": ""})


def _envelope(body: Any, key: str, expected: str) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise DMarketAPIError(200, f"expected {expected}, got {str(body)[:BODY_EXCERPT_CHARS]}")
    entries: list[Any] = body[key]
    return entries


def parse_aggregated_prices(body: Any, asked: list[str]) -> AggregatedPage:
    """Entries for the titles in ``asked``; a title sent twice is dropped altogether (which one is true?)."""
    entries = _envelope(body, "aggregatedPrices", "{'aggregatedPrices': [...], 'nextCursor': ''}")
    if not isinstance(body.get("nextCursor", ""), str):
        raise DMarketAPIError(200, f"nextCursor is not a string: {str(body.get('nextCursor'))[:40]}")
    wanted = set(asked)
    prices: dict[str, TitlePrices] = {}
    duplicated: set[str] = set()
    malformed = 0
    for raw in entries:
        try:
            entry = _AggregatedEntry.model_validate(raw)
        except ValidationError as exc:
            malformed += 1
            log.info("Skipped an aggregated-prices entry: %s", _reason(exc))
            continue
        if entry.title not in wanted:
            malformed += 1
            log.info("Skipped an aggregated-prices entry for a title nobody asked for")
            continue
        if entry.title in prices or entry.title in duplicated:
            duplicated.add(entry.title)
            malformed += 1
            continue
        prices[entry.title] = TitlePrices(
            entry.title,
            int(entry.orderBestPrice.Amount),
            int(entry.orderCount),
            int(entry.offerBestPrice.Amount),
            int(entry.offerCount),
        )
    for title in duplicated:
        if prices.pop(title, None) is not None:
            malformed += 1
        log.info("Dropped an aggregated-prices title sent more than once")
    return AggregatedPage(prices, malformed)


def parse_last_sales(body: Any, now_s: float | None = None) -> SalesPage:
    """The sales in ``body``, newest first; a sale of another shape, or dated in the future, is skipped."""
    entries = _envelope(body, "sales", "{'sales': [...]}")
    latest = (time.time() if now_s is None else now_s) + MAX_FUTURE_SKEW_S
    sales: list[SaleRecord] = []
    malformed = 0
    for raw in entries:
        try:
            sale = _Sale.model_validate(raw)
        except ValidationError as exc:
            malformed += 1
            log.info("Skipped a last-sales entry: %s", _reason(exc))
            continue
        date_s = int(sale.date)
        cents = _dollars_to_cents(sale.price)
        if date_s > latest or cents <= 0:
            malformed += 1
            log.info("Skipped a last-sales entry dated in the future or priced at zero")
            continue
        sales.append(SaleRecord(cents, date_s, sale.txOperationType != "Offer"))
    sales.sort(key=lambda s: s.date_s, reverse=True)
    return SalesPage(tuple(sales), malformed)


_DOLLARS_RE = re.compile(r"^([0-9]+)\.([0-9]{2})$")


def _dollars_to_cents(text: str) -> int:
    match = _DOLLARS_RE.match(text)
    assert match is not None  # the model's pattern already required it
    return int(match[1]) * 100 + int(match[2])


def _reason(error: ValidationError) -> str:
    """Which field was wrong, without echoing the (hostile, possibly huge) value."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in error.errors()[:3])
