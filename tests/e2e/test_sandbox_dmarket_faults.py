"""The DMarket sandbox's hostile bodies, slow drips, hangs and per-family rate limits, over real HTTP."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.dmarket import (
    AGGREGATED_PRICES_PATH,
    CS2,
    HOSTILE_KINDS,
    LAST_SALES_PATH,
    MARKET_ITEMS_PATH,
    TF2,
    TxOperationType,
    sign_request,
)
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.support.waiting import wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox-dmarket.md"
ENTRIES = {"market_items": "objects", "aggregated_prices": "aggregatedPrices", "last_sales": "sales"}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def request_for(sandbox: DMarketSandbox, endpoint: str) -> Callable[[httpx.Client], httpx.Response]:
    """A request to ``endpoint`` whose normal answer has several entries and a next cursor."""
    model = sandbox.model
    if endpoint == "market_items":
        params: dict[str, str | int] = {"gameId": CS2, "currency": "USD", "limit": 5, "priceFrom": 300, "priceTo": 1000}
        return lambda http: sandbox.signed_get(http, MARKET_ITEMS_PATH, params)
    if endpoint == "aggregated_prices":
        body = json.dumps({"filter": {"game": CS2, "titles": _aggregated_titles(sandbox)}, "limit": "4"})
        return lambda http: sandbox.signed_post(http, AGGREGATED_PRICES_PATH, body)
    title = next(
        truth.title
        for truth in model.truth[CS2].values()
        if {sale.tx_operation_type for sale in model.sales(CS2, truth.title)[:10]} == set(TxOperationType)
    )
    return lambda http: sandbox.signed_get(http, LAST_SALES_PATH, {"gameId": CS2, "title": title, "limit": 10})


def cents(value: str) -> int:
    whole, _, fraction = value.partition(".")
    return int(whole) * 100 + int(fraction or 0)


# What each body kind must do, stated independently of the sandbox's code: (normal body, raw response, ctx).
Check = Callable[[dict[str, Any], httpx.Response, DMarketSandbox], None]


def _json(response: httpx.Response) -> Any:
    return json.loads(response.content)


def _first(response: httpx.Response, key: str) -> Any:
    return _json(response)[key][0]


def _not_json(response: httpx.Response) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def _middle(title: str, insert: str) -> str:
    return title[: len(title) // 2] + insert + title[len(title) // 2 :]


def _check_not_json(normal: dict[str, Any], response: httpx.Response, _s: DMarketSandbox) -> None:
    assert response.headers["content-type"].startswith("application/json")
    assert response.content.startswith(b"upstream connect error or disconnect/reset before headers")
    _not_json(response)


def _check_truncated(normal: dict[str, Any], response: httpx.Response, _s: DMarketSandbox) -> None:
    whole = json.dumps(normal, ensure_ascii=False, separators=(",", ":")).encode()
    assert response.content == whole[: len(whole) // 2]
    _not_json(response)


def _check_html(normal: dict[str, Any], response: httpx.Response, _s: DMarketSandbox) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert b"<html" in response.content
    assert b"502: Bad gateway" in response.content


def _check_invalid_utf8(normal: dict[str, Any], response: httpx.Response, _s: DMarketSandbox) -> None:
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")
    whole = json.dumps(normal, ensure_ascii=False, separators=(",", ":")).encode()
    assert response.content.replace(b"\xff\xfe", b"") == whole
    assert response.content.count(b"\xff\xfe") == 1


def _entry_check(key: str, check: Callable[[Any, Any], None]) -> Check:
    """Check the first entry against the normal one; every other entry must be untouched."""

    def run(normal: dict[str, Any], response: httpx.Response, _s: DMarketSandbox) -> None:
        got = _json(response)
        check(normal[key][0], got[key][0])
        assert got[key][1:] == normal[key][1:]

    return run


def _mi(check: Callable[[Any, Any], None]) -> Check:
    return _entry_check("objects", check)


def _ap(check: Callable[[Any, Any], None]) -> Check:
    return _entry_check("aggregatedPrices", check)


def _ls(check: Callable[[Any, Any], None]) -> Check:
    return _entry_check("sales", check)


def _both_prices(check: Callable[[Any, str], None]) -> Callable[[Any, Any], None]:
    def run(before: Any, after: Any) -> None:
        for field in ("orderBestPrice", "offerBestPrice"):
            check(after[field], before[field]["Amount"])

    return run


def _eq(expected: Any) -> Callable[[Any, Any], None]:
    def run(_before: Any, after: Any) -> None:
        assert after == expected

    return run


def _price_eq(make: Callable[[int], Any]) -> Callable[[Any, Any], None]:
    def run(before: Any, after: Any) -> None:
        assert after["price"] == make(int(before["price"]["USD"]))
        assert type(after["price"]) is type(make(1))

    return run


def _without(field: str) -> Callable[[Any, Any], None]:
    def run(before: Any, after: Any) -> None:
        assert field not in after
        assert {k: v for k, v in before.items() if k != field} == after

    return run


def _field(field: str, expected: Callable[[Any], Any]) -> Callable[[Any, Any], None]:
    def run(before: Any, after: Any) -> None:
        assert after[field] == expected(before)
        assert {k: v for k, v in after.items() if k != field} == {k: v for k, v in before.items() if k != field}

    return run


def _all_sales(check: Callable[[Any, Any], None]) -> Check:
    def run(normal: dict[str, Any], response: httpx.Response, _s: DMarketSandbox) -> None:
        got = _json(response)["sales"]
        assert len(got) == len(normal["sales"])
        for before, after in zip(normal["sales"], got, strict=True):
            check(before, after)

    return run


def _order_for_target(before: Any, after: Any) -> None:
    renamed = {"Target": "Order"}.get(before["txOperationType"], before["txOperationType"])
    assert after == before | {"txOperationType": renamed}


def _whole_body(check: Callable[[dict[str, Any], Any], None]) -> Check:
    def run(normal: dict[str, Any], response: httpx.Response, _s: DMarketSandbox) -> None:
        check(normal, _json(response))

    return run


def _future(normal: dict[str, Any], response: httpx.Response, sandbox: DMarketSandbox) -> None:
    got = _json(response)["sales"]
    assert got[0]["date"] == str(sandbox.sales_anchor + 365 * 24 * 3600)
    assert got[1:] == normal["sales"][1:]


EXPECTED: dict[str, Check] = {
    "body_not_json": _check_not_json,
    "body_truncated": _check_truncated,
    "body_empty": lambda _n, response, _s: assert_empty(response),
    "html_200": _check_html,
    "invalid_utf8": _check_invalid_utf8,
    "title_lone_surrogate": _mi(lambda b, a: assert_equal(a["title"], _middle(b["title"], "\ud800"))),
    "title_nul": _mi(lambda b, a: assert_equal(a["title"], _middle(b["title"], "\x00"))),
    "title_huge": _mi(lambda b, a: assert_true(len(a["title"]) == 10_000 and a["title"].startswith(b["title"]))),
    "item_id_huge": _mi(lambda b, a: assert_true(len(a["itemId"]) == 200 and a["itemId"].startswith(b["itemId"]))),
    "item_id_empty": _mi(_field("itemId", lambda _b: "")),
    "price_number": _mi(_price_eq(lambda c: {"USD": c})),
    "price_30_digits": _mi(_field("price", lambda _b: {"USD": "123456789012345678901234567890"})),
    "price_negative": _mi(_price_eq(lambda c: {"USD": f"-{c}"})),
    "price_decimal": _mi(_price_eq(lambda c: {"USD": f"{c // 100}.{c % 100:02d}"})),
    "price_amount_object": _mi(_price_eq(lambda c: {"Amount": c})),
    "price_missing": _mi(_without("price")),
    "price_null": _mi(_field("price", lambda _b: None)),
    "price_usd_missing": _mi(_price_eq(lambda c: {"DMC": str(c)})),
    "suggested_missing": _mi(_without("suggestedPrice")),
    "suggested_zero": _mi(_field("suggestedPrice", lambda _b: {"USD": "0"})),
    "suggested_garbage": _mi(_field("suggestedPrice", lambda _b: {"USD": "N/A"})),
    "cursor_not_string": _whole_body(lambda n, got: assert_equal(got, n | {"cursor": 1})),
    "aggregated_price_number": _ap(
        _both_prices(lambda a, amount: assert_equal(a, {"Currency": "USD", "Amount": int(amount)}))
    ),
    "aggregated_price_bare_string": _ap(_both_prices(lambda a, amount: assert_equal(a, amount))),
    "aggregated_price_dollars": _ap(_both_prices(lambda a, amount: assert_dollars(a["Amount"], int(amount)))),
    "aggregated_price_float": _ap(_both_prices(lambda a, amount: assert_true(math.isclose(a, int(amount) / 100)))),
    "aggregated_price_negative": _ap(_both_prices(lambda a, amount: assert_equal(a["Amount"], f"-{amount}"))),
    "aggregated_price_garbage": _ap(_both_prices(lambda a, _amount: assert_equal(a["Amount"], "N/A"))),
    "aggregated_price_null": _ap(_both_prices(lambda a, _amount: assert_equal(a, None))),
    "aggregated_count_number": _ap(
        lambda b, a: assert_equal(a, b | {"orderCount": int(b["orderCount"]), "offerCount": int(b["offerCount"])})
    ),
    "aggregated_unrequested_title": _whole_body(
        lambda n, got: assert_true(
            got["aggregatedPrices"][:-1] == n["aggregatedPrices"]
            and got["aggregatedPrices"][-1]["title"] == "Sandbox Unrequested Title"
        )
    ),
    "aggregated_duplicate_title": _whole_body(
        lambda n, got: assert_equal(
            got["aggregatedPrices"],
            [
                *n["aggregatedPrices"],
                n["aggregatedPrices"][0]
                | {
                    field: {"Currency": "USD", "Amount": str(int(n["aggregatedPrices"][0][field]["Amount"]) * 2 + 1)}
                    for field in ("orderBestPrice", "offerBestPrice")
                },
            ],
        )
    ),
    "next_cursor_not_string": _whole_body(lambda n, got: assert_equal(got, n | {"nextCursor": 1})),
    "sales_date_iso": _ls(
        _field("date", lambda b: datetime.fromtimestamp(int(b["date"]), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    ),
    "sales_date_millis": _ls(_field("date", lambda b: str(int(b["date"]) * 1000))),
    "sales_date_number": _ls(_field("date", lambda b: int(b["date"]))),
    "sales_date_garbage": _ls(_field("date", lambda _b: "yesterday")),
    "sales_date_future": _future,
    "sales_date_negative": _ls(_field("date", lambda _b: "-1")),
    "sales_price_cents": _all_sales(lambda b, a: assert_equal(a, b | {"price": str(cents(b["price"]))})),
    "sales_price_number": _ls(_field("price", lambda b: cents(b["price"]) / 100)),
    "sales_price_garbage": _ls(_field("price", lambda _b: "N/A")),
    "sales_price_negative": _ls(_field("price", lambda b: "-" + b["price"])),
    "sales_tx_order": _all_sales(_order_for_target),
    "sales_tx_unknown": _ls(_field("txOperationType", lambda _b: "Refund")),
    "sales_oldest_first": _whole_body(lambda n, got: assert_equal(got["sales"], n["sales"][::-1])),
}


def assert_equal(got: Any, expected: Any) -> None:
    assert got == expected


def assert_true(condition: bool) -> None:
    assert condition


def assert_dollars(got: str, expected_cents: int) -> None:
    assert got == f"{expected_cents // 100}.{expected_cents % 100:02d}"


def assert_empty(response: httpx.Response) -> None:
    assert response.content == b""
    assert response.headers["content-type"].startswith("application/json")


def _entries_checks(endpoint: str) -> dict[str, Check]:
    key = ENTRIES[endpoint]
    return {
        "body_not_object": _whole_body(lambda n, got: assert_equal(got, n[key])),
        "entry_not_object": _whole_body(lambda n, got: assert_equal(got, n | {key: ["not an object", *n[key][1:]]})),
        "entries_not_list": _whole_body(
            lambda n, got: assert_equal(got, n | {key: {str(i): entry for i, entry in enumerate(n[key])}})
        ),
        "entries_missing": _whole_body(lambda n, got: assert_equal(got, {k: v for k, v in n.items() if k != key})),
    }


BODY_CASES = [
    (name, endpoint)
    for name, kind in HOSTILE_KINDS.items()
    if not kind.listing_kind
    for endpoint in sorted(kind.endpoints)
]


def test_there_are_many_hostile_kinds_and_each_is_documented() -> None:
    doc = DOC.read_text()
    assert len(HOSTILE_KINDS) >= 20
    assert len([kind for kind in HOSTILE_KINDS.values() if "market_items" in kind.endpoints]) >= 20
    for name in HOSTILE_KINDS:
        assert f"`{name}`" in doc, name
    assert set(EXPECTED) | set(_entries_checks("market_items")) == {
        name for name, kind in HOSTILE_KINDS.items() if not kind.listing_kind
    }


def test_the_control_api_lists_the_kinds(dmarket_sandbox: DMarketSandbox) -> None:
    listed = {kind["name"]: kind for kind in dmarket_sandbox.client.faults()}

    assert set(listed) == set(HOSTILE_KINDS)
    assert listed["cursor_repeats"]["listing"] is True
    assert listed["body_truncated"]["endpoints"] == ["aggregated_prices", "last_sales", "market_items"]


@pytest.mark.parametrize(("kind", "endpoint"), BODY_CASES)
def test_hostile_body_replaces_exactly_what_it_says_for_the_next_response_only(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox, kind: str, endpoint: str
) -> None:
    send = request_for(dmarket_sandbox, endpoint)
    normal = send(http)
    assert normal.status_code == 200, normal.text
    assert len(normal.json()[ENTRIES[endpoint]]) >= 2

    dmarket_sandbox.client.corrupt_next(kind, count=1, endpoint=endpoint)
    hostile = send(http)
    after = send(http)

    assert hostile.status_code == 200
    check = EXPECTED.get(kind) or _entries_checks(endpoint)[kind]
    check(normal.json(), hostile, dmarket_sandbox)
    assert hostile.headers["X-RateLimit-Limit-Second"] == normal.headers["X-RateLimit-Limit-Second"]
    assert after.content == normal.content
    assert dmarket_sandbox.client.config()["corrupt_next"] == {}


def test_a_hostile_body_lasts_count_responses_and_waits_for_a_200(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    send = request_for(dmarket_sandbox, "market_items")
    dmarket_sandbox.client.corrupt_next("price_null", count=2)

    bad_request = dmarket_sandbox.signed_get(http, MARKET_ITEMS_PATH, {"gameId": "csgo", "currency": "USD"})
    other_endpoint = request_for(dmarket_sandbox, "last_sales")(http)
    responses = [send(http) for _ in range(3)]

    assert bad_request.status_code == 400
    assert bad_request.json()["code"] == "BadRequest"
    assert "sales" in other_endpoint.json()  # a market-items kind leaves the other endpoints alone
    assert [r.json()["objects"][0]["price"] is None for r in responses] == [True, True, False]


def test_corrupt_next_names_a_known_kind_for_an_endpoint_it_fits(dmarket_sandbox: DMarketSandbox) -> None:
    for bad in (
        {"kind": "no_such_kind"},
        {"kind": "sales_date_iso", "endpoint": "market_items"},
        {"kind": "price_null", "count": -1},
    ):
        with pytest.raises(httpx.HTTPStatusError) as excinfo:
            dmarket_sandbox.client.configure(corrupt_next=bad)
        assert excinfo.value.response.status_code == 400

    dmarket_sandbox.client.corrupt_next("sales_date_iso", count=3)  # its only endpoint is the default
    dmarket_sandbox.client.corrupt_next("body_empty", count=2)  # generic kinds default to market items

    assert dmarket_sandbox.client.config()["corrupt_next"] == {
        "last_sales": {"kind": "sales_date_iso", "count": 3},
        "market_items": {"kind": "body_empty", "count": 2},
    }


# --- listing kinds ------------------------------------------------------------------------------------------
def _items_page(http: httpx.Client, sandbox: DMarketSandbox, cursor: str = "", **extra: str | int) -> dict[str, Any]:
    params = {"gameId": TF2, "currency": "USD", "limit": 10, "priceFrom": 500, "priceTo": 2000, **extra}
    response = sandbox.signed_get(http, MARKET_ITEMS_PATH, {**params, **({"cursor": cursor} if cursor else {})})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(page: dict[str, Any]) -> list[str]:
    return [obj["itemId"] for obj in page["objects"]]


def test_cursor_repeats_keeps_serving_the_same_page(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    first = _items_page(http, dmarket_sandbox)
    second = _items_page(http, dmarket_sandbox, first["cursor"])
    dmarket_sandbox.client.corrupt_next("cursor_repeats", count=3)

    looped = [_items_page(http, dmarket_sandbox, first["cursor"])]
    for _ in range(2):
        looped.append(_items_page(http, dmarket_sandbox, looped[-1]["cursor"]))
    released = _items_page(http, dmarket_sandbox, looped[-1]["cursor"])

    assert all(page == looped[0] for page in looped)
    assert _ids(looped[0]) == _ids(second)
    assert looped[0]["cursor"] == first["cursor"]  # it points back at the page just served
    assert released == second  # once the fault is spent, the listing moves on
    dmarket_sandbox.client.corrupt_next("cursor_repeats", count=1)
    assert _ids(_items_page(http, dmarket_sandbox)) == _ids(_items_page(http, dmarket_sandbox))


def test_price_to_ignored_lets_items_above_the_band_through(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    normal = _items_page(http, dmarket_sandbox, orderDir="desc", orderBy="price")
    dmarket_sandbox.client.corrupt_next("price_to_ignored")

    ignored = _items_page(http, dmarket_sandbox, orderDir="desc", orderBy="price")

    assert all(500 <= int(obj["price"]["USD"]) <= 2000 for obj in normal["objects"])
    assert all(int(obj["price"]["USD"]) > 2000 for obj in ignored["objects"])  # the dearest, unbounded
    assert ignored["cursor"] == normal["cursor"]
    assert ignored["total"] == normal["total"]


def test_duplicate_item_ids_resend_the_previous_pages_last_item(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    first = _items_page(http, dmarket_sandbox)
    second = _items_page(http, dmarket_sandbox, first["cursor"])
    dmarket_sandbox.client.corrupt_next("duplicate_item_ids", count=2)

    duplicated_first = _items_page(http, dmarket_sandbox)
    duplicated_second = _items_page(http, dmarket_sandbox, first["cursor"])

    assert _ids(duplicated_first) == [_ids(first)[0], *_ids(first)]
    assert _ids(duplicated_second) == [_ids(first)[-1], *_ids(second)]
    assert duplicated_second["cursor"] == second["cursor"]


def test_next_cursor_repeats_for_aggregated_prices(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    titles = _aggregated_titles(dmarket_sandbox)

    def page(cursor: str = "") -> dict[str, Any]:
        body = json.dumps({"filter": {"game": CS2, "titles": titles}, "limit": "4", "cursor": cursor})
        result: dict[str, Any] = dmarket_sandbox.signed_post(http, AGGREGATED_PRICES_PATH, body).json()
        return result

    normal = page()
    dmarket_sandbox.client.corrupt_next("next_cursor_repeats")
    repeated = page()
    again = page(repeated["nextCursor"])

    assert repeated["aggregatedPrices"] == normal["aggregatedPrices"]
    assert repeated["nextCursor"]
    assert repeated["nextCursor"] != normal["nextCursor"]
    assert again == normal  # the cursor asked for the first page again


def _aggregated_titles(sandbox: DMarketSandbox) -> list[str]:
    model = sandbox.model
    return [t for t, truth in model.truth[CS2].items() if truth.order_count and t in model.offers[CS2]][:6]


# --- gateway faults per endpoint, hangs and drips ------------------------------------------------------------
def test_gateway_faults_can_target_one_endpoint(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    items, sales, prices = (
        request_for(dmarket_sandbox, e) for e in ("market_items", "last_sales", "aggregated_prices")
    )
    dmarket_sandbox.client.fail_next(1, status=502, endpoint="last_sales")
    dmarket_sandbox.client.throttle_next(1, retry_after_s=3, endpoint="aggregated_prices")

    assert items(http).status_code == 200
    assert sales(http).status_code == 502
    throttled = prices(http)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert [sales(http).status_code, prices(http).status_code] == [200, 200]
    assert [r["endpoint"] for r in dmarket_sandbox.client.requests()] == [
        "market_items",
        "last_sales",
        "aggregated_prices",
        "last_sales",
        "aggregated_prices",
    ]


def test_a_hang_answers_nothing_then_the_gateways_504(dmarket_sandbox: DMarketSandbox) -> None:
    send = request_for(dmarket_sandbox, "last_sales")
    dmarket_sandbox.client.hang_next(1, hang_ms=300, endpoint="last_sales")

    with httpx.Client(timeout=5.0) as patient:
        started = time.monotonic()
        response = send(patient)
        waited = time.monotonic() - started

    assert response.status_code == 504
    assert response.json() == {"message": "The upstream server is timing out"}
    assert waited >= 0.3


def test_a_client_that_gives_up_on_a_hang_is_logged_as_499(dmarket_sandbox: DMarketSandbox) -> None:
    dmarket_sandbox.client.hang_next(1, hang_ms=30_000)

    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            request_for(dmarket_sandbox, "market_items")(impatient)
        # The server stops hanging as soon as the client leaves, long before the 30 s are up.
        wait_until(lambda: [r["status"] for r in dmarket_sandbox.client.requests()] == [499], timeout_s=5)
        assert request_for(dmarket_sandbox, "market_items")(impatient).status_code == 200


def test_slow_drip_delivers_the_exact_body(dmarket_sandbox: DMarketSandbox) -> None:
    send = request_for(dmarket_sandbox, "aggregated_prices")
    with httpx.Client(timeout=5.0) as client:
        normal = send(client)
        dmarket_sandbox.client.drip_next(1, interval_ms=10, chunk_bytes=64, endpoint="aggregated_prices")
        started = time.monotonic()
        dripped = send(client)
        took = time.monotonic() - started

    assert dripped.status_code == 200
    assert dripped.content == normal.content
    assert dripped.headers["content-length"] == str(len(normal.content))
    assert took >= 0.01 * (math.ceil(len(normal.content) / 64) - 1)
    assert [r["status"] for r in dmarket_sandbox.client.requests()] == [200, 200]


def test_slow_drip_never_trips_a_read_timeout_only_a_total_deadline(dmarket_sandbox: DMarketSandbox) -> None:
    dmarket_sandbox.client.drip_next(1, interval_ms=40)  # one byte every 40 ms
    path = f"{MARKET_ITEMS_PATH}?gameId={CS2}&currency=USD&limit=3"
    headers = sign_request(dmarket_sandbox.secret_key_hex, "GET", path)
    received = bytearray()
    deadline_s = 1.0

    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.5)) as client:
        started = time.monotonic()
        with client.stream("GET", dmarket_sandbox.url + path, headers=headers) as response:
            assert response.status_code == 200
            total = int(response.headers["content-length"])
            for chunk in response.iter_raw():
                received += chunk
                if time.monotonic() - started > deadline_s:
                    break  # the client's own deadline: the read timeout of 0.5 s never fired

    assert 5 <= len(received) < total
    assert b'{"objects":[{"itemId":"'.startswith(bytes(received[:20]))
    wait_until(lambda: [r["status"] for r in dmarket_sandbox.client.requests()] == [499], timeout_s=5)


# --- rate limits per family --------------------------------------------------------------------------------------
def _served_per_second(sandbox: DMarketSandbox, endpoints: set[str]) -> int:
    seconds: dict[int, int] = {}
    for entry in sandbox.client.requests():
        if entry["endpoint"] in endpoints and entry["status"] == 200:
            seconds[math.floor(entry["time"])] = seconds.get(math.floor(entry["time"]), 0) + 1
    return max(seconds.values(), default=0)


def _until_refused(send: Callable[[], httpx.Response], limit: int = 200) -> list[httpx.Response]:
    responses: list[httpx.Response] = []
    while len(responses) < limit:
        responses.append(send())
        if responses[-1].status_code == 429:
            return responses
    raise AssertionError(f"no 429 in {limit} requests")


def test_each_family_has_its_own_window_limit_and_headers(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    items, sales, prices = (
        request_for(dmarket_sandbox, e) for e in ("market_items", "last_sales", "aggregated_prices")
    )
    dmarket_sandbox.client.set_rate_limit("market_items", signed=2)

    refused = _until_refused(lambda: items(http))[-1]
    sales_response, prices_response = sales(http), prices(http)  # straight after, in the same second or not

    assert refused.headers["X-RateLimit-Limit-Second"] == "2"
    assert int(refused.headers["Retry-After"]) >= 1
    assert sales_response.status_code == 200
    assert sales_response.headers["X-RateLimit-Limit-Second"] == "6"
    assert sales_response.headers["RateLimit-Limit"] == "6"
    assert prices_response.status_code == 200
    assert prices_response.headers["X-RateLimit-Limit-Second"] == "20"
    for response in (sales_response, prices_response):
        for header in ("X-RateLimit-Remaining-Second", "RateLimit-Remaining", "RateLimit-Reset"):
            assert response.headers[header].isdigit()


def test_last_sales_allow_six_requests_a_second(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    sales = request_for(dmarket_sandbox, "last_sales")

    responses = _until_refused(lambda: sales(http))

    assert responses[-1].json() == {"code": "TooManyRequests", "message": "API rate limit exceeded"}
    assert responses[-1].headers["X-RateLimit-Remaining-Second"] == "0"
    assert _served_per_second(dmarket_sandbox, {"last_sales"}) == 6
    stats = dmarket_sandbox.client.stats()["by_endpoint"]["last_sales"]
    assert stats["throttled_total"] == 1
    assert stats["peak_served_per_second"] == 6


def test_keyless_last_sales_and_aggregated_prices_share_the_keyless_other_budget(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    dmarket_sandbox.client.set_rate_limit("other", keyless=3)
    model = dmarket_sandbox.model
    title = next(iter(model.truth[CS2]))
    calls = [
        lambda: http.get(dmarket_sandbox.url + LAST_SALES_PATH, params={"gameId": CS2, "title": title}),
        lambda: http.post(
            dmarket_sandbox.url + AGGREGATED_PRICES_PATH, json={"filter": {"game": CS2, "titles": [title]}}
        ),
    ]
    counter = iter(range(1_000))

    responses = _until_refused(lambda: calls[next(counter) % 2]())

    assert {r.headers["RateLimit-Limit"] for r in responses} == {"3"}
    assert _served_per_second(dmarket_sandbox, {"last_sales", "aggregated_prices"}) == 3
    assert {r["api_key"] for r in dmarket_sandbox.client.requests()} == {None}


def test_rate_limits_are_configured_per_family(dmarket_sandbox: DMarketSandbox) -> None:
    config = dmarket_sandbox.client.config()
    assert config["rate_limits"] == {
        "market_items": {"signed": 10, "keyless": 2},
        "last_sales": {"signed": 6},
        "other": {"signed": 20, "keyless": 6},
    }

    dmarket_sandbox.client.set_rate_limit("last_sales", signed=0)
    dmarket_sandbox.client.configure(rate_limit_rps=4)  # the old name of market items' signed limit

    config = dmarket_sandbox.client.config()
    assert config["rate_limits"]["last_sales"] == {"signed": 0}
    assert config["rate_limits"]["market_items"] == {"signed": 4, "keyless": 2}
    assert config["rate_limit_rps"] == 4
    for bad in ({"fees": {"signed": 1}}, {"last_sales": {"keyless": 1}}, {"other": {"signed": -1}}):
        with pytest.raises(httpx.HTTPStatusError) as excinfo:
            dmarket_sandbox.client.configure(rate_limits=bad)
        assert excinfo.value.response.status_code == 400
