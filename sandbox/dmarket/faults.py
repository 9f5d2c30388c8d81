"""Hostile response bodies: each kind turns one well-formed 200 body into something a client must survive.

A kind either rewrites one entry of the response's list (the first one: ``objects[0]``,
``aggregatedPrices[0]`` or ``sales[0]``), a few fields of the whole body, or the whole body. "Listing
kinds" change which entries are served instead (``cursor_repeats``, ``price_to_ignored``,
``duplicate_item_ids``, ``next_cursor_repeats``) and are applied by the endpoint itself. Every kind is
pure, so a test can state exactly what it must see.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.dmarket.endpoints import Endpoint

JsonObject = dict[str, Any]
ENTRIES_KEY: dict[Endpoint, str] = {
    Endpoint.MARKET_ITEMS: "objects",
    Endpoint.AGGREGATED_PRICES: "aggregatedPrices",
    Endpoint.LAST_SALES: "sales",
}
HUGE_TITLE_CHARS = 10_000
HUGE_ITEM_ID_CHARS = 200
THIRTY_DIGITS = "123456789012345678901234567890"
FUTURE_DATE_S = 365 * 24 * 3600
UNREQUESTED_TITLE = "Sandbox Unrequested Title"
NOT_AN_OBJECT = "not an object"
# What Envoy and Cloudflare put in front of APIs actually send when an upstream breaks.
ENVOY_RESET_TEXT = b"upstream connect error or disconnect/reset before headers. reset reason: connection termination"
CLOUDFLARE_HTML = (
    b'<!DOCTYPE html>\n<html lang="en-US"><head><title>api.dmarket.com | 502: Bad gateway</title></head>\n'
    b"<body><h1>Bad gateway</h1><p>Error code 502</p><p>Cloudflare Ray ID: 8f00sandbox00000</p></body></html>\n"
)
INVALID_UTF8 = b"\xff\xfe"
_INVALID_UTF8_MARK = "\ue000sandbox-invalid-utf8\ue000"  # private-use: rendered as raw UTF-8


def render_json(body: Any, *, ascii_only: bool = False) -> bytes:
    """JSON exactly as the normal responses are rendered (Starlette's ``JSONResponse`` settings)."""
    return json.dumps(body, ensure_ascii=ascii_only, allow_nan=False, indent=None, separators=(",", ":")).encode()


def dollars(cents: int) -> str:
    """Integer cents as a decimal dollar string with two places: 1234 -> "12.34", -5 -> "-0.05"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@dataclass(frozen=True, slots=True)
class RawBody:
    content: bytes
    media_type: str = "application/json"
    status: int = 200


@dataclass(frozen=True, slots=True)
class CorruptionContext:
    endpoint: Endpoint
    sales_anchor: int  # unix seconds that sale ages count back from


Transform = Callable[[JsonObject, CorruptionContext], RawBody]


@dataclass(frozen=True, slots=True)
class HostileKind:
    name: str
    endpoints: frozenset[Endpoint]
    description: str
    transform: Transform | None  # None: a listing kind, applied by the endpoint

    @property
    def listing_kind(self) -> bool:
        return self.transform is None


def _entries(body: JsonObject, ctx: CorruptionContext) -> list[Any]:
    entries: list[Any] = body[ENTRIES_KEY[ctx.endpoint]]
    return entries


def _first_entry(edit: Callable[[JsonObject, CorruptionContext], None], *, ascii_only: bool = False) -> Transform:
    """A transform that edits the first entry (a page without entries is sent unchanged)."""

    def transform(body: JsonObject, ctx: CorruptionContext) -> RawBody:
        entries = _entries(body, ctx)
        if entries:
            edit(entries[0], ctx)
        return RawBody(render_json(body, ascii_only=ascii_only))

    return transform


def _whole(edit: Callable[[JsonObject, CorruptionContext], Any]) -> Transform:
    """A transform that rewrites the parsed body; ``edit`` returns the new body."""

    def transform(body: JsonObject, ctx: CorruptionContext) -> RawBody:
        return RawBody(render_json(edit(body, ctx)))

    return transform


def _raw(make: Callable[[JsonObject, CorruptionContext], RawBody]) -> Transform:
    return make


# --- whole-body kinds (every endpoint) -----------------------------------------------------------------
def _truncated(body: JsonObject, _ctx: CorruptionContext) -> RawBody:
    content = render_json(body)
    return RawBody(content[: max(1, len(content) // 2)])


def _invalid_utf8(body: JsonObject, ctx: CorruptionContext) -> RawBody:
    entries = _entries(body, ctx)
    if not entries:
        return RawBody(render_json(body))
    title: str = entries[0]["title"]
    entries[0]["title"] = title[:1] + _INVALID_UTF8_MARK + title[1:]
    return RawBody(render_json(body).replace(_INVALID_UTF8_MARK.encode(), INVALID_UTF8))


def _entry_not_object(body: JsonObject, ctx: CorruptionContext) -> JsonObject:
    entries = _entries(body, ctx)
    if entries:
        entries[0] = NOT_AN_OBJECT
    return body


def _entries_not_list(body: JsonObject, ctx: CorruptionContext) -> JsonObject:
    key = ENTRIES_KEY[ctx.endpoint]
    body[key] = {str(index): entry for index, entry in enumerate(body[key])}
    return body


def _entries_missing(body: JsonObject, ctx: CorruptionContext) -> JsonObject:
    del body[ENTRIES_KEY[ctx.endpoint]]
    return body


# --- market items ----------------------------------------------------------------------------------------
def _set(field: str, value: Any) -> Callable[[JsonObject, CorruptionContext], None]:
    def edit(entry: JsonObject, _ctx: CorruptionContext) -> None:
        entry[field] = value

    return edit


def _drop(field: str) -> Callable[[JsonObject, CorruptionContext], None]:
    def edit(entry: JsonObject, _ctx: CorruptionContext) -> None:
        del entry[field]

    return edit


def _title_with(insert: str) -> Callable[[JsonObject, CorruptionContext], None]:
    def edit(entry: JsonObject, _ctx: CorruptionContext) -> None:
        title: str = entry["title"]
        middle = len(title) // 2
        entry["title"] = title[:middle] + insert + title[middle:]

    return edit


def _huge_title(entry: JsonObject, _ctx: CorruptionContext) -> None:
    title: str = entry["title"]
    entry["title"] = ((title + " ") * (HUGE_TITLE_CHARS // (len(title) + 1) + 1))[:HUGE_TITLE_CHARS]


def _huge_item_id(entry: JsonObject, _ctx: CorruptionContext) -> None:
    item_id: str = entry["itemId"]
    entry["itemId"] = (item_id * (HUGE_ITEM_ID_CHARS // len(item_id) + 1))[:HUGE_ITEM_ID_CHARS]


def _usd_cents(entry: JsonObject) -> int:
    return int(entry["price"]["USD"])


def _price(make: Callable[[int], Any]) -> Callable[[JsonObject, CorruptionContext], None]:
    def edit(entry: JsonObject, _ctx: CorruptionContext) -> None:
        entry["price"] = make(_usd_cents(entry))

    return edit


def _cursor_not_string(body: JsonObject, _ctx: CorruptionContext) -> JsonObject:
    body["cursor"] = 1
    return body


# --- aggregated prices -------------------------------------------------------------------------------------
_PRICE_FIELDS = ("orderBestPrice", "offerBestPrice")
_COUNT_FIELDS = ("orderCount", "offerCount")


def _both_prices(make: Callable[[int], Any]) -> Callable[[JsonObject, CorruptionContext], None]:
    def edit(entry: JsonObject, _ctx: CorruptionContext) -> None:
        for field in _PRICE_FIELDS:
            entry[field] = make(int(entry[field]["Amount"]))

    return edit


def _counts_as_numbers(entry: JsonObject, _ctx: CorruptionContext) -> None:
    for field in _COUNT_FIELDS:
        entry[field] = int(entry[field])


def _money(amount: Any) -> JsonObject:
    return {"Currency": "USD", "Amount": amount}


def _unrequested_title(body: JsonObject, _ctx: CorruptionContext) -> JsonObject:
    body["aggregatedPrices"].append(
        {
            "title": UNREQUESTED_TITLE,
            "orderBestPrice": _money("100"),
            "orderCount": "1",
            "offerBestPrice": _money("200"),
            "offerCount": "1",
        }
    )
    return body


def _duplicate_title(body: JsonObject, _ctx: CorruptionContext) -> JsonObject:
    entries: list[JsonObject] = body["aggregatedPrices"]
    if entries:
        twin = copy.deepcopy(entries[0])
        for field in _PRICE_FIELDS:
            twin[field] = _money(str(int(twin[field]["Amount"]) * 2 + 1))
        entries.append(twin)
    return body


def _next_cursor_not_string(body: JsonObject, _ctx: CorruptionContext) -> JsonObject:
    body["nextCursor"] = 1
    return body


# --- last sales ----------------------------------------------------------------------------------------------
def _iso_date(entry: JsonObject, _ctx: CorruptionContext) -> None:
    entry["date"] = datetime.fromtimestamp(int(entry["date"]), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _millis_date(entry: JsonObject, _ctx: CorruptionContext) -> None:
    entry["date"] = str(int(entry["date"]) * 1000)


def _number_date(entry: JsonObject, _ctx: CorruptionContext) -> None:
    entry["date"] = int(entry["date"])


def _future_date(entry: JsonObject, ctx: CorruptionContext) -> None:
    entry["date"] = str(ctx.sales_anchor + FUTURE_DATE_S)


def _sale_cents(entry: JsonObject) -> int:
    whole, _, fraction = str(entry["price"]).partition(".")
    return int(whole) * 100 + int(fraction or "0")


def _sale_price(make: Callable[[int], Any]) -> Callable[[JsonObject, CorruptionContext], None]:
    def edit(entry: JsonObject, _ctx: CorruptionContext) -> None:
        entry["price"] = make(_sale_cents(entry))

    return edit


def _all_sales(edit: Callable[[JsonObject], None]) -> Callable[[JsonObject, CorruptionContext], JsonObject]:
    def whole(body: JsonObject, _ctx: CorruptionContext) -> JsonObject:
        for sale in body["sales"]:
            edit(sale)
        return body

    return whole


def _price_in_cents(sale: JsonObject) -> None:
    sale["price"] = str(_sale_cents(sale))


def _target_as_order(sale: JsonObject) -> None:
    if sale["txOperationType"] == "Target":
        sale["txOperationType"] = "Order"


def _oldest_first(body: JsonObject, _ctx: CorruptionContext) -> JsonObject:
    body["sales"].reverse()
    return body


_MI = frozenset({Endpoint.MARKET_ITEMS})
_AP = frozenset({Endpoint.AGGREGATED_PRICES})
_LS = frozenset({Endpoint.LAST_SALES})
_TITLED = frozenset({Endpoint.MARKET_ITEMS, Endpoint.AGGREGATED_PRICES})
_ALL = frozenset(Endpoint)

_KINDS: tuple[tuple[str, frozenset[Endpoint], str, Transform | None], ...] = (
    # Whole body, every endpoint.
    (
        "body_not_json",
        _ALL,
        "200 `application/json` whose body is Envoy's plain-text `upstream connect error or disconnect/reset "
        "before headers. reset reason: connection termination`",
        _raw(lambda _body, _ctx: RawBody(ENVOY_RESET_TEXT)),
    ),
    (
        "body_truncated",
        _ALL,
        "200 with the normal JSON cut to its first half (Content-Length matches the cut body)",
        _raw(_truncated),
    ),
    ("body_empty", _ALL, "200 `application/json` with an empty body", _raw(lambda _body, _ctx: RawBody(b""))),
    (
        "html_200",
        _ALL,
        '200 `text/html`: a Cloudflare-style "502: Bad gateway" HTML page',
        _raw(lambda _body, _ctx: RawBody(CLOUDFLARE_HTML, media_type="text/html; charset=UTF-8")),
    ),
    (
        "body_not_object",
        _ALL,
        "the body is the entries list alone (a JSON array) instead of an object",
        _raw(lambda body, ctx: RawBody(render_json(_entries(body, ctx)))),
    ),
    ("entry_not_object", _ALL, 'the first entry is the JSON string `"not an object"`', _whole(_entry_not_object)),
    (
        "entries_not_list",
        _ALL,
        'the entries list is an object keyed by position: `{"0": {...}, "1": {...}}`',
        _whole(_entries_not_list),
    ),
    (
        "entries_missing",
        _ALL,
        "the entries key (`objects`/`aggregatedPrices`/`sales`) is absent",
        _whole(_entries_missing),
    ),
    (
        "invalid_utf8",
        _TITLED,
        "the first entry's title has the bytes `FF FE` (invalid UTF-8) after its first character",
        _raw(_invalid_utf8),
    ),
    # Market items: the first object.
    (
        "title_lone_surrogate",
        _MI,
        "`\\ud800` (a lone surrogate, as a JSON escape) in the middle of the title; the body is ASCII-only JSON",
        _first_entry(_title_with("\ud800"), ascii_only=True),
    ),
    ("title_nul", _MI, "a NUL (`\\u0000`) in the middle of the title", _first_entry(_title_with("\x00"))),
    ("title_huge", _MI, "the title repeated to exactly 10,000 characters", _first_entry(_huge_title)),
    ("item_id_huge", _MI, "the itemId repeated to exactly 200 characters", _first_entry(_huge_item_id)),
    ("item_id_empty", _MI, '`"itemId": ""`', _first_entry(_set("itemId", ""))),
    ("price_number", _MI, '`"price": {"USD": 1234}` (a JSON number)', _first_entry(_price(lambda c: {"USD": c}))),
    (
        "price_30_digits",
        _MI,
        '`"price": {"USD": "123456789012345678901234567890"}`',
        _first_entry(_set("price", {"USD": THIRTY_DIGITS})),
    ),
    ("price_negative", _MI, '`"price": {"USD": "-1234"}`', _first_entry(_price(lambda c: {"USD": str(-c)}))),
    (
        "price_decimal",
        _MI,
        '`"price": {"USD": "12.34"}` (dollars)',
        _first_entry(_price(lambda c: {"USD": dollars(c)})),
    ),
    ("price_amount_object", _MI, '`"price": {"Amount": 1234}`', _first_entry(_price(lambda c: {"Amount": c}))),
    ("price_missing", _MI, "no `price` key", _first_entry(_drop("price"))),
    ("price_null", _MI, '`"price": null`', _first_entry(_set("price", None))),
    (
        "price_usd_missing",
        _MI,
        '`"price": {"DMC": "1234"}` (no `USD`)',
        _first_entry(_price(lambda c: {"DMC": str(c)})),
    ),
    ("suggested_missing", _MI, "no `suggestedPrice` key", _first_entry(_drop("suggestedPrice"))),
    ("suggested_zero", _MI, '`"suggestedPrice": {"USD": "0"}`', _first_entry(_set("suggestedPrice", {"USD": "0"}))),
    (
        "suggested_garbage",
        _MI,
        '`"suggestedPrice": {"USD": "N/A"}`',
        _first_entry(_set("suggestedPrice", {"USD": "N/A"})),
    ),
    ("cursor_not_string", _MI, '`"cursor": 1` (a number)', _whole(_cursor_not_string)),
    (
        "cursor_repeats",
        _MI,
        "listing: the normal page, but `cursor` requests this same page again (forever, while the fault lasts)",
        None,
    ),
    (
        "price_to_ignored",
        _MI,
        "listing: the page is cut from the listing without the `priceTo` bound (items above it come through); "
        "`cursor` is the normal one",
        None,
    ),
    (
        "duplicate_item_ids",
        _MI,
        "listing: the previous page's last object is sent again before this page's (limit + 1 objects); on the "
        "first page the first object is sent twice",
        None,
    ),
    # Aggregated prices: the first entry.
    (
        "aggregated_price_number",
        _AP,
        '`"orderBestPrice"`/`"offerBestPrice"`: `{"Currency": "USD", "Amount": 1234}` (a JSON number)',
        _first_entry(_both_prices(lambda c: _money(c))),
    ),
    (
        "aggregated_price_bare_string",
        _AP,
        'both best prices as bare strings of cents: `"orderBestPrice": "1234"`',
        _first_entry(_both_prices(str)),
    ),
    (
        "aggregated_price_dollars",
        _AP,
        'both best prices in dollars: `{"Currency": "USD", "Amount": "12.34"}`',
        _first_entry(_both_prices(lambda c: _money(dollars(c)))),
    ),
    (
        "aggregated_price_float",
        _AP,
        'both best prices as JSON numbers of dollars: `"orderBestPrice": 12.34`',
        _first_entry(_both_prices(lambda c: c / 100)),
    ),
    (
        "aggregated_price_negative",
        _AP,
        'both best prices negative: `{"Currency": "USD", "Amount": "-1234"}`',
        _first_entry(_both_prices(lambda c: _money(str(-c)))),
    ),
    (
        "aggregated_price_garbage",
        _AP,
        'both best prices `{"Currency": "USD", "Amount": "N/A"}`',
        _first_entry(_both_prices(lambda _c: _money("N/A"))),
    ),
    (
        "aggregated_price_null",
        _AP,
        "both best prices `null`",
        _first_entry(_both_prices(lambda _c: None)),
    ),
    ("aggregated_count_number", _AP, '`"orderCount"`/`"offerCount"` as JSON numbers', _first_entry(_counts_as_numbers)),
    (
        "aggregated_unrequested_title",
        _AP,
        f'an extra entry for `"{UNREQUESTED_TITLE}"`, which nobody asked for',
        _whole(_unrequested_title),
    ),
    (
        "aggregated_duplicate_title",
        _AP,
        "the first entry again at the end, with both best prices changed to 2 x Amount + 1",
        _whole(_duplicate_title),
    ),
    ("next_cursor_not_string", _AP, '`"nextCursor": 1` (a number)', _whole(_next_cursor_not_string)),
    ("next_cursor_repeats", _AP, "listing: `nextCursor` requests this same page again", None),
    # Last sales: the first sale, or every sale.
    (
        "sales_date_iso",
        _LS,
        'the first sale\'s date as ISO 8601: `"2024-12-31T23:59:59Z"`',
        _first_entry(_iso_date),
    ),
    ("sales_date_millis", _LS, "the first sale's date in milliseconds (a string)", _first_entry(_millis_date)),
    ("sales_date_number", _LS, "the first sale's date as a JSON number of seconds", _first_entry(_number_date)),
    ("sales_date_garbage", _LS, 'the first sale\'s date is `"yesterday"`', _first_entry(_set("date", "yesterday"))),
    ("sales_date_future", _LS, "the first sale's date is 365 days after the anchor", _first_entry(_future_date)),
    ("sales_date_negative", _LS, 'the first sale\'s date is `"-1"`', _first_entry(_set("date", "-1"))),
    (
        "sales_price_cents",
        _LS,
        'every sale\'s price as a string of cents (`"1234"`) instead of dollars (`"12.34"`)',
        _whole(_all_sales(_price_in_cents)),
    ),
    (
        "sales_price_number",
        _LS,
        "the first sale's price as a JSON number of dollars (`12.34`)",
        _first_entry(_sale_price(lambda c: c / 100)),
    ),
    ("sales_price_garbage", _LS, 'the first sale\'s price is `"N/A"`', _first_entry(_set("price", "N/A"))),
    (
        "sales_price_negative",
        _LS,
        'the first sale\'s price negated (`"-12.34"`)',
        _first_entry(_sale_price(lambda c: dollars(-c))),
    ),
    (
        "sales_tx_order",
        _LS,
        'every `"Target"` sale says `"Order"` (the swagger\'s enum name) instead',
        _whole(_all_sales(_target_as_order)),
    ),
    (
        "sales_tx_unknown",
        _LS,
        'the first sale\'s `txOperationType` is `"Refund"`',
        _first_entry(_set("txOperationType", "Refund")),
    ),
    ("sales_oldest_first", _LS, "the sales in the wrong order: oldest first", _whole(_oldest_first)),
)

HOSTILE_KINDS: dict[str, HostileKind] = {
    name: HostileKind(name=name, endpoints=endpoints, description=description, transform=transform)
    for name, endpoints, description, transform in _KINDS
}


def default_endpoint(kind: HostileKind) -> Endpoint:
    """Where a kind applies when ``corrupt_next`` names no endpoint: market items, else its only one."""
    if Endpoint.MARKET_ITEMS in kind.endpoints:
        return Endpoint.MARKET_ITEMS
    [endpoint] = kind.endpoints
    return endpoint


def corrupt(kind: HostileKind, body: JsonObject, ctx: CorruptionContext) -> RawBody:
    """Apply a body kind to a copy of a normal response body."""
    if kind.transform is None:
        raise ValueError(f"{kind.name} is a listing kind; the endpoint applies it")
    return kind.transform(copy.deepcopy(body), ctx)
