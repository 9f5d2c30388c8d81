"""Filtering, ordering and cursor pagination of market listings. Pure: tests use it to compute pages.

Every ordering ends with ``item_id`` as a tie-breaker, so the order is total and a cursor (an offset
into the filtered, ordered listing, bound to the query that produced it) pages through each item
exactly once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sandbox.dmarket.market import Item


class OrderBy(StrEnum):
    PRICE = "price"
    TITLE = "title"
    UPDATED = "updated"
    BEST_DEALS = "best_deals"


class OrderDir(StrEnum):
    ASC = "asc"
    DESC = "desc"


def _deal_ratio(item: Item) -> Fraction:
    # Price over suggested price, exact (no floats); lower is a better deal. Items without a
    # suggested price rank as "no deal" (ratio 1).
    if item.suggested_price_cents is None:
        return Fraction(1)
    return Fraction(item.price_cents, item.suggested_price_cents)


_SORT_KEYS: dict[OrderBy, Callable[[Item], tuple[Any, str]]] = {
    OrderBy.PRICE: lambda item: (item.price_cents, item.item_id),
    OrderBy.TITLE: lambda item: (item.title.casefold(), item.item_id),
    OrderBy.UPDATED: lambda item: (item.created_at, item.item_id),
    OrderBy.BEST_DEALS: lambda item: (_deal_ratio(item), item.item_id),
}


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """The parameters of ``GET /exchange/v1/market/items`` that select and order listings.

    Price bounds are inclusive integer cents; 0 means "no bound", as on DMarket.
    """

    game_id: str
    price_from: int = 0
    price_to: int = 0
    title: str = ""
    order_by: OrderBy = OrderBy.PRICE
    order_dir: OrderDir = OrderDir.ASC

    def matches(self, item: Item) -> bool:
        return (
            item.game_id == self.game_id
            and (self.price_from == 0 or item.price_cents >= self.price_from)
            and (self.price_to == 0 or item.price_cents <= self.price_to)
            and self.title.casefold() in item.title.casefold()
        )

    def fingerprint(self) -> str:
        """Short stable digest of the query, so a cursor cannot be replayed against another query."""
        canonical = json.dumps(
            [self.game_id, self.price_from, self.price_to, self.title, self.order_by, self.order_dir],
            ensure_ascii=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def ordered(items: Iterable[Item], order_by: OrderBy, order_dir: OrderDir) -> list[Item]:
    return sorted(items, key=_SORT_KEYS[order_by], reverse=order_dir is OrderDir.DESC)


def select_listing(items: Iterable[Item], query: ListingQuery) -> list[Item]:
    """The full filtered, ordered listing a client paging through ``query`` must see, in order."""
    return [item for item in ordered(items, query.order_by, query.order_dir) if query.matches(item)]


class InvalidCursorError(ValueError):
    """The cursor was not issued by this sandbox for this query."""


def encode_offset_cursor(fingerprint: str, offset: int) -> str:
    """An opaque cursor: an offset bound to the fingerprint of the request that issued it."""
    payload = json.dumps({"o": offset, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_offset_cursor(cursor: str, fingerprint: str) -> int:
    """The offset of a cursor issued for ``fingerprint``; raises :class:`InvalidCursorError` otherwise."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, issued_for = payload["o"], payload["q"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise InvalidCursorError("cursor is not a cursor issued by this server") from exc
    if issued_for != fingerprint:
        raise InvalidCursorError("cursor belongs to a different query (filters or order changed)")
    if type(offset) is not int or offset < 0:
        raise InvalidCursorError("cursor is not a cursor issued by this server")
    return offset


def encode_cursor(query: ListingQuery, offset: int) -> str:
    return encode_offset_cursor(query.fingerprint(), offset)


def decode_cursor(cursor: str, query: ListingQuery) -> int:
    """The offset a cursor points at; raises :class:`InvalidCursorError` for anything else."""
    return decode_offset_cursor(cursor, query.fingerprint())


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[Item]
    next_cursor: str  # "" on the last page, as on DMarket
    total: int


def page_of(listing: Sequence[Item], query: ListingQuery, offset: int, limit: int) -> Page:
    """The page of ``listing`` (already filtered and ordered for ``query``) starting at ``offset``."""
    end = offset + limit
    next_cursor = encode_cursor(query, end) if end < len(listing) else ""
    return Page(items=listing[offset:end], next_cursor=next_cursor, total=len(listing))
