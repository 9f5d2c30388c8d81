"""The DMarket sandbox's valuation endpoints and the truth behind its market, over real HTTP.

Expectations come from the pure model (``dmarket_sandbox.model``), computed without HTTP.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.dmarket import (
    AGGREGATED_PRICES_PATH,
    CS2,
    DOTA2,
    GAME_IDS,
    LARGE_ITEMS_PER_GAME,
    LAST_SALES_PATH,
    MARKET_ITEMS_PATH,
    RUST,
    AggregatedPrice,
    AuthFailure,
    Liquidity,
    Sale,
    TitleTruth,
    TxOperationType,
    build_market_model,
    generate_catalogue,
    select_sales,
    title_sales,
    title_truth,
)
from tests.plugins.sandbox_dmarket import DMarketSandbox

DAY_S = 24 * 3600


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def cents_json(cents: int) -> dict[str, str]:
    return {"Currency": "USD", "Amount": str(cents)}


def expected_entry(entry: AggregatedPrice) -> dict[str, Any]:
    """The documented wire shape, written out independently of the server's encoder."""
    return {
        "title": entry.title,
        "orderBestPrice": cents_json(entry.order_best_price_cents),
        "orderCount": str(entry.order_count),
        "offerBestPrice": cents_json(entry.offer_best_price_cents),
        "offerCount": str(entry.offer_count),
    }


def expected_sale(sale: Sale, anchor: int) -> dict[str, Any]:
    return {
        "price": f"{sale.price_cents // 100}.{sale.price_cents % 100:02d}",
        "date": str(anchor - sale.age_s),
        "txOperationType": sale.tx_operation_type.value,
        "offerAttributes": {},
        "orderAttributes": {},
    }


def aggregated_body(game: str, titles: list[str], **extra: Any) -> str:
    return json.dumps({"filter": {"game": game, "titles": titles}, **extra})


def post_aggregated(http: httpx.Client, sandbox: DMarketSandbox, body: str) -> httpx.Response:
    return sandbox.signed_post(http, AGGREGATED_PRICES_PATH, body)


def busy_title(sandbox: DMarketSandbox, game: str = CS2) -> TitleTruth:
    """A title with plenty of sales, both kinds of them among the newest 20."""
    for truth in sandbox.model.truth[game].values():
        sales = sandbox.model.sales(game, truth.title)
        kinds = {sale.tx_operation_type for sale in sales[:20]}
        if len(sales) >= 60 and kinds == set(TxOperationType):
            return truth
    raise AssertionError("the market has busy titles")


# --- aggregated prices -------------------------------------------------------------------------------------
def test_aggregated_prices_are_the_models_in_request_order(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    catalogue = list(dmarket_sandbox.model.truth[DOTA2])
    titles = [*catalogue[10:40], "No Such Title", catalogue[12], "no such title either"]

    response = post_aggregated(http, dmarket_sandbox, aggregated_body(DOTA2, titles, limit="100"))

    assert response.status_code == 200, response.text
    assert response.headers["X-RateLimit-Limit-Second"] == "20"  # "other methods"
    body = response.json()
    assert body["nextCursor"] == ""
    # Unknown titles are absent; a repeated title appears once, where it was first asked for.
    assert body["aggregatedPrices"] == [
        expected_entry(entry) for entry in dmarket_sandbox.model.aggregated_prices(DOTA2, catalogue[10:40])
    ]
    assert [entry["title"] for entry in body["aggregatedPrices"]] == catalogue[10:40]


def test_best_order_sits_below_the_true_value_and_best_offer_is_the_cheapest_listing(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    model = dmarket_sandbox.model
    listed = [title for title, truth in model.truth[CS2].items() if truth.order_count and title in model.offers[CS2]]
    titles = listed[:100]

    entries = post_aggregated(http, dmarket_sandbox, aggregated_body(CS2, titles)).json()["aggregatedPrices"]

    assert len(entries) == 100
    for entry in entries:
        truth = model.truth[CS2][entry["title"]]
        listings = [item.price_cents for item in model.items[CS2] if item.title == entry["title"]]
        assert 0 < int(entry["orderBestPrice"]["Amount"]) < truth.true_value_cents
        assert int(entry["orderCount"]) == truth.order_count
        assert int(entry["offerBestPrice"]["Amount"]) == min(listings)
        assert int(entry["offerCount"]) == len(listings)


def test_titles_without_listings_or_orders_are_sent_with_zero_counts(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    model = dmarket_sandbox.model
    unlisted = next(title for title in model.truth[CS2] if title not in model.offers[CS2])
    no_orders = next(title for title, truth in model.truth[CS2].items() if truth.order_count == 0)

    entries = post_aggregated(http, dmarket_sandbox, aggregated_body(CS2, [unlisted, no_orders])).json()

    by_title = {entry["title"]: entry for entry in entries["aggregatedPrices"]}
    assert by_title[unlisted]["offerCount"] == "0"
    assert by_title[unlisted]["offerBestPrice"] == cents_json(0)
    assert by_title[no_orders]["orderCount"] == "0"
    assert by_title[no_orders]["orderBestPrice"] == cents_json(0)


def test_the_signature_covers_the_body_exactly_as_sent(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    payload = {"filter": {"game": RUST, "titles": list(dmarket_sandbox.model.truth[RUST])[:3]}, "limit": "100"}
    spaced, compact = json.dumps(payload), json.dumps(payload, separators=(",", ":"))
    assert spaced != compact

    as_signed = dmarket_sandbox.signed_post(http, AGGREGATED_PRICES_PATH, spaced)  # dm-trading-tools' json.dumps
    reencoded = dmarket_sandbox.signed_post(http, AGGREGATED_PRICES_PATH, compact, signed_body=spaced)

    assert as_signed.status_code == 200, as_signed.text
    assert len(as_signed.json()["aggregatedPrices"]) == 3
    assert reencoded.status_code == 401
    assert reencoded.json() == {"code": "Unauthorized", "message": AuthFailure.BAD_SIGNATURE.value}


def test_more_than_100_titles_is_a_400(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    titles = list(dmarket_sandbox.model.truth[CS2])[:101]

    at_the_limit = post_aggregated(http, dmarket_sandbox, aggregated_body(CS2, titles[:100]))
    over = post_aggregated(http, dmarket_sandbox, aggregated_body(CS2, titles))

    assert at_the_limit.status_code == 200
    assert over.status_code == 400
    error = over.json()
    assert error["code"] == 3  # gRPC INVALID_ARGUMENT, as the marketplace API's gateway sends it
    assert "at most 100 titles" in error["message"]
    assert error["error"] == error["message"]
    assert error["details"] == []


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ("not json", "JSON object"),
        ("[]", "JSON object"),
        ('{"limit": "10"}', "filter"),
        ('{"filter": {"game": "csgo", "titles": []}}', "filter.game"),
        ('{"filter": {"game": "a8db", "titles": "AK-47"}}', "filter.titles"),
        ('{"filter": {"game": "a8db", "titles": [1, 2]}}', "filter.titles"),
        ('{"filter": {"game": "a8db", "titles": []}, "limit": "0"}', "limit"),
        ('{"filter": {"game": "a8db", "titles": []}, "limit": "101"}', "limit"),
        ('{"filter": {"game": "a8db", "titles": []}, "limit": "ten"}', "limit"),
        ('{"filter": {"game": "a8db", "titles": []}, "limit": true}', "limit"),
        ('{"filter": {"game": "a8db", "titles": []}, "cursor": 5}', "cursor"),
        ('{"filter": {"game": "a8db", "titles": []}, "cursor": "bogus"}', "cursor"),
    ],
)
def test_invalid_aggregated_prices_requests_are_400(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox, body: str, message_part: str
) -> None:
    response = post_aggregated(http, dmarket_sandbox, body)

    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert message_part in response.json()["message"]


def test_aggregated_prices_page_by_limit_and_cursor(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    titles = list(dmarket_sandbox.model.truth[CS2])[200:230]
    got: list[dict[str, Any]] = []
    cursor, pages = "", 0
    while True:
        limit: int | str = 7 if pages % 2 else "7"  # an int64 may come as a number or a string
        body = post_aggregated(http, dmarket_sandbox, aggregated_body(CS2, titles, limit=limit, cursor=cursor)).json()
        got += body["aggregatedPrices"]
        pages += 1
        cursor = body["nextCursor"]
        if not cursor:
            break

    assert pages == 5
    assert got == [expected_entry(entry) for entry in dmarket_sandbox.model.aggregated_prices(CS2, titles)]
    # A cursor belongs to the request that issued it.
    first = post_aggregated(http, dmarket_sandbox, aggregated_body(CS2, titles, limit="7")).json()["nextCursor"]
    reused = post_aggregated(http, dmarket_sandbox, aggregated_body(CS2, titles[:5], limit="7", cursor=first))
    assert reused.status_code == 400


@settings(
    max_examples=15,
    deadline=None,
    # The fixture's server is shared on purpose; each example only reads the market.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    game_id=st.sampled_from(GAME_IDS),
    picks=st.lists(st.integers(0, 399), min_size=1, max_size=100),  # no titles: a test of its own
    unknown=st.lists(st.text(min_size=1, max_size=20), max_size=5),
    limit=st.integers(1, 100),
)
def test_aggregated_pages_concatenate_to_the_models_entries(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox, game_id: str, picks: list[int], unknown: list[str], limit: int
) -> None:
    dmarket_sandbox.client.set_rate_limit("other", signed=0)
    catalogue = list(dmarket_sandbox.model.truth[game_id])
    titles = [catalogue[pick % len(catalogue)] for pick in picks] + unknown
    titles = titles[:100]
    got: list[dict[str, Any]] = []
    cursor = ""
    while True:
        body = aggregated_body(game_id, titles, limit=str(limit), cursor=cursor)
        page = post_aggregated(http, dmarket_sandbox, body).json()
        assert len(page["aggregatedPrices"]) <= limit
        got += page["aggregatedPrices"]
        cursor = page["nextCursor"]
        if not cursor:
            break

    expected = dmarket_sandbox.model.aggregated_prices(game_id, titles)
    assert got == [expected_entry(entry) for entry in expected]


def test_no_titles_pages_through_every_title_of_the_game(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    got: list[str] = []
    cursor = ""
    while True:
        body = post_aggregated(http, dmarket_sandbox, aggregated_body(RUST, [], cursor=cursor)).json()
        got += [entry["title"] for entry in body["aggregatedPrices"]]
        cursor = body["nextCursor"]
        if not cursor:
            break

    assert got == sorted(dmarket_sandbox.model.truth[RUST], key=lambda title: (title.casefold(), title))


def test_aggregated_prices_is_post_only(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    response = http.get(dmarket_sandbox.url + AGGREGATED_PRICES_PATH)

    assert response.status_code == 405


# --- last sales ---------------------------------------------------------------------------------------------
def test_last_sales_are_the_models_newest_first(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    truth = busy_title(dmarket_sandbox)
    sales = dmarket_sandbox.model.sales(CS2, truth.title)
    anchor = dmarket_sandbox.sales_anchor

    response = dmarket_sandbox.signed_get(http, LAST_SALES_PATH, {"gameId": CS2, "title": truth.title})

    assert response.status_code == 200, response.text
    assert response.headers["X-RateLimit-Limit-Second"] == "6"
    body = response.json()
    assert body == {"sales": [expected_sale(sale, anchor) for sale in sales[:20]]}  # default limit 20
    dates = [int(sale["date"]) for sale in body["sales"]]
    assert dates == sorted(dates, reverse=True)
    assert all(date <= anchor for date in dates)


def test_last_sales_page_by_offset_and_filter_by_operation_type(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    dmarket_sandbox.client.set_rate_limit("last_sales", signed=0)
    truth = busy_title(dmarket_sandbox)
    sales = dmarket_sandbox.model.sales(CS2, truth.title)
    anchor = dmarket_sandbox.sales_anchor
    cases: list[tuple[list[tuple[str, str | int]], Sequence[Sale]]] = [
        ([("limit", 5), ("offset", 7)], sales[7:12]),
        ([("txOperationType", "Offer"), ("limit", 20)], select_sales(sales, [TxOperationType.OFFER])),
        ([("txOperationType", "Target"), ("offset", 3)], select_sales(sales, [TxOperationType.TARGET], offset=3)),
        ([("txOperationType", "Offer"), ("txOperationType", "Target")], sales[:20]),
        ([("txOperationType", "")], sales[:20]),
        ([("offset", len(sales))], []),
    ]

    for extra, expected in cases:
        params = [("gameId", CS2), ("title", truth.title), *extra]
        body = dmarket_sandbox.signed_get(http, LAST_SALES_PATH, params).json()
        assert body == {"sales": [expected_sale(sale, anchor) for sale in expected]}, extra


def test_last_sales_of_an_unknown_title_are_empty(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    response = dmarket_sandbox.signed_get(http, LAST_SALES_PATH, {"gameId": CS2, "title": "No Such Skin"})

    assert response.status_code == 200
    assert response.json() == {"sales": []}


@pytest.mark.parametrize(
    ("params", "message_part"),
    [
        ({"gameId": "csgo", "title": "x"}, "gameId"),
        ({"gameId": CS2}, "title"),
        ({"gameId": CS2, "title": "x", "limit": 21}, "limit"),
        ({"gameId": CS2, "title": "x", "limit": 0}, "limit"),
        ({"gameId": CS2, "title": "x", "offset": -1}, "offset"),
        ({"gameId": CS2, "title": "x", "txOperationType": "Order"}, "txOperationType"),
    ],
)
def test_invalid_last_sales_parameters_are_400(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox, params: dict[str, str | int], message_part: str
) -> None:
    response = dmarket_sandbox.signed_get(http, LAST_SALES_PATH, params)

    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"
    assert message_part in response.json()["message"]


def test_the_sales_anchor_moves_every_date(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    truth = busy_title(dmarket_sandbox)
    params: dict[str, str | int] = {"gameId": CS2, "title": truth.title, "limit": 3}
    before = dmarket_sandbox.signed_get(http, LAST_SALES_PATH, params).json()["sales"]

    dmarket_sandbox.client.set_sales_anchor(dmarket_sandbox.sales_anchor + 3_600)
    after = dmarket_sandbox.signed_get(http, LAST_SALES_PATH, params).json()["sales"]

    assert [int(a["date"]) - int(b["date"]) for a, b in zip(after, before, strict=True)] == [3_600] * 3
    assert [a["price"] for a in after] == [b["price"] for b in before]
    dmarket_sandbox.client.reset()
    assert dmarket_sandbox.client.config()["sales_anchor"] == dmarket_sandbox.sales_anchor


# --- the truth model (pure) ------------------------------------------------------------------------------------
@pytest.mark.parametrize("game_id", GAME_IDS)
def test_truth_model_has_the_documented_shape(dmarket_sandbox: DMarketSandbox, game_id: str) -> None:
    truths = list(dmarket_sandbox.model.truth[game_id].values())
    by_tier = {tier: [t for t in truths if t.liquidity is tier] for tier in Liquidity}
    priced = [t for t in truths if t.suggested_price_cents is not None]

    assert 0.12 <= len(by_tier[Liquidity.ILLIQUID]) / len(truths) <= 0.28
    assert 0.12 <= len(by_tier[Liquidity.LIQUID]) / len(truths) <= 0.28
    overstated = [t for t in priced if t.suggested_overstated]
    fair = [t for t in priced if not t.suggested_overstated]
    assert all(11_700 <= (t.overstatement_bp or 0) <= 18_200 for t in overstated if t.true_value_cents > 100)
    assert all(9_700 <= (t.overstatement_bp or 0) <= 10_600 for t in fair if t.true_value_cents > 100)

    def share_overstated(tier: Liquidity) -> float:
        tier_priced = [t for t in by_tier[tier] if t.suggested_price_cents is not None]
        return sum(t.suggested_overstated for t in tier_priced) / len(tier_priced)

    assert share_overstated(Liquidity.ILLIQUID) > 0.6
    assert share_overstated(Liquidity.LIQUID) < 0.15
    assert all(t.order_best_price_cents < t.true_value_cents for t in truths)
    assert all((t.order_best_price_cents == 0) == (t.order_count == 0) for t in truths)
    assert all(t.true_value_cents >= 3 for t in truths)


def test_sales_gather_around_the_true_value_with_outliers(dmarket_sandbox: DMarketSandbox) -> None:
    model = dmarket_sandbox.model
    checked = 0
    outliers = total = 0
    for truth in model.truth[CS2].values():
        sales = model.sales(CS2, truth.title)
        total += len(sales)
        outliers += sum(sale.outlier for sale in sales)
        offers = [s.price_cents for s in sales[:40] if s.tx_operation_type is TxOperationType.OFFER and not s.outlier]
        if len(offers) >= 10 and truth.true_value_cents >= 100:
            checked += 1
            assert abs(statistics.median(offers) - truth.true_value_cents) <= truth.true_value_cents * 0.05
            assert all(0.94 * truth.true_value_cents <= price <= 1.06 * truth.true_value_cents for price in offers)
        ages = [sale.age_s for sale in sales]
        assert ages == sorted(set(ages))  # newest first, no two at once
        assert len(sales) <= 500
        assert all(age <= 365 * DAY_S for age in ages)
    assert checked > 500
    assert 0.02 <= outliers / total <= 0.04
    assert any(
        sale.price_cents > 1.7 * sale_truth.true_value_cents
        for sale_truth in model.truth[CS2].values()
        for sale in model.sales(CS2, sale_truth.title)[:50]
        if sale.outlier
    )


def test_illiquid_titles_can_go_days_without_a_sale(dmarket_sandbox: DMarketSandbox) -> None:
    model = dmarket_sandbox.model
    quiet = [
        truth
        for truth in model.truth[CS2].values()
        if not [sale for sale in model.sales(CS2, truth.title) if sale.age_s <= 7 * DAY_S]
    ]
    busy = [truth for truth in model.truth[CS2].values() if len(model.sales(CS2, truth.title)) == 500]

    assert len(quiet) >= 50
    assert all(truth.liquidity is Liquidity.ILLIQUID for truth in quiet)
    assert busy
    assert all(truth.liquidity is not Liquidity.ILLIQUID for truth in busy)


def test_overstated_suggested_prices_make_fake_deals(dmarket_sandbox: DMarketSandbox) -> None:
    """Listings 10%+ under the suggested price: some are real deals, some are above what they resell for."""
    model = dmarket_sandbox.model
    deals = [(item, model.truth[item.game_id][item.title]) for game in GAME_IDS for item in model.items[game]]
    deals = [(item, truth) for item, truth in deals if item.discount_percent >= 10]

    fake = [item for item, truth in deals if item.price_cents >= truth.true_value_cents]
    real = [item for item, truth in deals if item.price_cents * 100 <= truth.true_value_cents * 85]
    assert len(fake) >= 50
    assert len(real) >= 50


def test_truth_depends_only_on_seed_game_title_and_suggested_price() -> None:
    small, large = generate_catalogue(3, 300), generate_catalogue(3, 2_000)
    title, entry = next(iter(small[CS2].items()))
    assert title in large[CS2]
    in_small = build_market_model(3, 300).truth[CS2][title]
    in_large = build_market_model(3, 2_000).truth[CS2][title]

    assert in_small == title_truth(3, CS2, title, entry.suggested_price_cents)
    assert in_large == title_truth(3, CS2, title, large[CS2][title].suggested_price_cents)
    # The catalogue draws the suggested price; everything not derived from it is the title's own.
    for field in ("liquidity", "sales_per_day", "suggested_overstated", "spread_bp", "order_count"):
        assert getattr(in_small, field) == getattr(in_large, field)
    assert title_sales(3, in_small) == title_sales(3, in_small)
    assert title_sales(3, in_small) != title_sales(4, in_small)
    assert build_market_model(3, 300).truth != build_market_model(4, 300).truth


# --- the truth API ---------------------------------------------------------------------------------------------
def test_truth_api_tells_each_items_hidden_value(dmarket_sandbox: DMarketSandbox) -> None:
    model = dmarket_sandbox.model
    item = model.items[DOTA2][17]
    truth = model.truth[DOTA2][item.title]
    sales = model.sales(DOTA2, item.title)
    offers = model.offers[DOTA2][item.title]

    served = dmarket_sandbox.client.truth(DOTA2, item_id=item.item_id)

    assert served == {
        "sales_anchor": dmarket_sandbox.sales_anchor,
        "item_id": item.item_id,
        "price_cents": item.price_cents,
        "game_id": DOTA2,
        "title": item.title,
        "suggested_price_cents": item.suggested_price_cents,
        "true_value_cents": truth.true_value_cents,
        "suggested_overstated": truth.suggested_overstated,
        "overstatement_bp": truth.overstatement_bp,
        "liquidity": truth.liquidity.value,
        "sales_per_day": truth.sales_per_day,
        "spread_bp": truth.spread_bp,
        "order_count": truth.order_count,
        "order_best_price_cents": truth.order_best_price_cents,
        "offer_count": offers.count,
        "offer_best_price_cents": offers.best_price_cents,
        "sales_total": len(sales),
        "sales_last_24h": sum(1 for sale in sales if sale.age_s <= DAY_S),
        "sales_last_7d": sum(1 for sale in sales if sale.age_s <= 7 * DAY_S),
        "last_sale_at": dmarket_sandbox.sales_anchor - sales[0].age_s if sales else None,
    }
    assert dmarket_sandbox.client.truth(DOTA2, title=item.title) == {
        key: value for key, value in served.items() if key not in ("item_id", "price_cents")
    }


def test_truth_api_dumps_a_whole_game(dmarket_sandbox: DMarketSandbox) -> None:
    dump = dmarket_sandbox.client.truth(RUST)

    assert dump["game_id"] == RUST
    assert [entry["title"] for entry in dump["titles"]] == list(dmarket_sandbox.model.truth[RUST])
    assert [entry["true_value_cents"] for entry in dump["titles"]] == [
        truth.true_value_cents for truth in dmarket_sandbox.model.truth[RUST].values()
    ]


def test_truth_api_refuses_unknown_games_and_items(dmarket_sandbox: DMarketSandbox) -> None:
    for params, status in (({"gameId": "csgo"}, 400), ({"gameId": CS2, "itemId": "nope"}, 404)):
        response = httpx.get(dmarket_sandbox.url + "/_sandbox/truth", params=params)
        assert response.status_code == status


# --- the large market -------------------------------------------------------------------------------------------
def test_the_large_market_starts_fast_and_serves_its_model(
    http: httpx.Client, dmarket_sandbox_large: DMarketSandbox
) -> None:
    assert dmarket_sandbox_large.startup_cpu_s < 2.0
    model = dmarket_sandbox_large.model
    item = model.items[CS2][-1]

    page = dmarket_sandbox_large.signed_get(http, MARKET_ITEMS_PATH, {"gameId": CS2, "currency": "USD", "limit": 1})
    truth = dmarket_sandbox_large.client.truth(CS2, item_id=item.item_id)

    assert page.json()["total"]["offers"] == LARGE_ITEMS_PER_GAME == len(model.items[CS2])
    assert truth["true_value_cents"] == model.truth[CS2][item.title].true_value_cents
    assert len(model.truth[CS2]) == len(generate_catalogue(1, LARGE_ITEMS_PER_GAME)[CS2])
