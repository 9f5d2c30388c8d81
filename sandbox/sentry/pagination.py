"""Sentry-style cursor pagination with a ``Link`` header.

The cursor string keeps Sentry's shape ``value:offset:is_prev`` so clients treat it as opaque exactly as
they do with sentry.io, but the sandbox uses it as a *keyset* cursor: ``value`` is the sort timestamp
(epoch ms) of the page's boundary issue and ``offset`` is that issue's id. The next page is "everything
strictly after this (timestamp, id) in the list order", so deleting or resolving issues that were
already seen cannot shift the remaining ones and an iterate-and-delete loop visits each exactly once.
(sentry.io uses value + an offset among equal values, which can skip issues when tied ones vanish.)
A cursor with ``value`` 0 (e.g. Sentry's ``0:100:0``) is a plain offset, as in Sentry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")
SortKey = tuple[int, int]


@dataclass(frozen=True)
class Cursor:
    value: int
    offset: int
    is_prev: bool

    def __str__(self) -> str:
        return f"{self.value}:{self.offset}:{int(self.is_prev)}"


def parse_cursor(raw: str) -> Cursor:
    """Parse ``value:offset:is_prev``; raises ValueError (→ 400 "Invalid cursor parameter.")."""
    value, offset, is_prev = raw.split(":")
    cursor = Cursor(int(value), int(offset), bool(int(is_prev)))
    if cursor.offset < 0 or cursor.value < 0:
        raise ValueError(raw)
    return cursor


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    prev: Cursor
    has_prev: bool
    next: Cursor
    has_next: bool


def _boundary(key: SortKey, is_prev: bool) -> Cursor:
    return Cursor(value=key[0], offset=key[1], is_prev=is_prev)


def paginate(ordered: Sequence[T], key: Callable[[T], SortKey], cursor: Cursor | None, limit: int) -> Page[T]:
    """One page of ``ordered`` (sorted by ``key`` descending) after/before ``cursor``."""
    if cursor is None or cursor.value == 0:
        start = cursor.offset if cursor else 0
        end = start + limit
    elif cursor.is_prev:
        # The page just before the boundary: the last `limit` items whose key is above it.
        end = sum(1 for item in ordered if key(item) > (cursor.value, cursor.offset))
        start = max(0, end - limit)
    else:
        start = sum(1 for item in ordered if key(item) >= (cursor.value, cursor.offset))
        end = start + limit
    items = list(ordered[start:end])
    has_prev = start > 0 and bool(items)
    has_next = end < len(ordered)
    if not items:
        # Nothing here: echo the request's position so neither link moves.
        here = cursor or Cursor(0, 0, False)
        return Page(items, Cursor(here.value, here.offset, True), False, Cursor(here.value, here.offset, False), False)
    prev = _boundary(key(items[0]), True) if has_prev else Cursor(0, 0, True)
    return Page(items, prev, has_prev, _boundary(key(items[-1]), False), has_next)


def link_header(base_url: str, params: Sequence[tuple[str, str]], page: Page[T]) -> str:
    """Sentry's ``Link`` header: previous then next, each with ``results`` and ``cursor`` attributes."""
    kept = urlencode([(k, v) for k, v in params if k != "cursor"])
    prefix = f"{base_url}?{kept}&" if kept else f"{base_url}?"

    def link(rel: str, cursor: Cursor, has_results: bool) -> str:
        results = "true" if has_results else "false"
        return f'<{prefix}cursor={cursor}>; rel="{rel}"; results="{results}"; cursor="{cursor}"'

    return ", ".join([link("previous", page.prev, page.has_prev), link("next", page.next, page.has_next)])
