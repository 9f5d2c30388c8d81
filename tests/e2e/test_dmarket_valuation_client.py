"""The DMarket client's valuation endpoints against the sandbox over real HTTP: shapes, hostile bodies, budgets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from sandbox.dmarket import DOTA2, TxOperationType, select_sales
from tests.plugins.sandbox_dmarket import DMarketSandbox
from worker.dmarket.client import LAST_SALES, MARKET_ITEMS, OTHER, Budgets, DMarketClient
from worker.dmarket.errors import DMarketAPIError, RateLimitError
from worker.dmarket.models import RequestStats
from worker.dmarket.signing import Signer
from worker.ratelimit import SharedRateLimiter


@pytest.fixture
def client(dmarket_sandbox: DMarketSandbox, redis_client: redis.Redis) -> Iterator[DMarketClient]:
    budgets = Budgets.of(f"dmarket:ratelimit:test:{uuid.uuid4().hex}")
    dmarket = DMarketClient(
        dmarket_sandbox.url,
        Signer(dmarket_sandbox.public_key_hex, dmarket_sandbox.secret_key_hex),
        SharedRateLimiter(redis_client),
        budgets,
        max_attempts=3,
        deadline_s=5.0,
        backoff_base_s=0.05,
    )
    yield dmarket
    dmarket.close()
    redis_client.delete(*(lane.key for lane in [*budgets.lanes.values(), *budgets.gates.values()]))


def titles_of(sandbox: DMarketSandbox, game_id: str, count: int) -> list[str]:
    return list(dict.fromkeys(item.title for item in sandbox.market[game_id]))[:count]


def test_aggregated_prices_for_100_titles_in_one_signed_post_match_the_model(
    client: DMarketClient, dmarket_sandbox: DMarketSandbox
) -> None:
    titles = titles_of(dmarket_sandbox, DOTA2, 100)
    stats = RequestStats()
    page = client.aggregated_prices(DOTA2, titles, stats)
    assert page.malformed == 0
    assert set(page.prices) == set(titles)
    for title in titles:
        truth = dmarket_sandbox.model.aggregated_price(DOTA2, title)
        assert truth is not None
        got = page.prices[title]
        assert (got.order_best_price_cents, got.order_count) == (truth.order_best_price_cents, truth.order_count)
        assert (got.offer_best_price_cents, got.offer_count) == (truth.offer_best_price_cents, truth.offer_count)
    assert stats.by_family == {OTHER: 1}
    [request] = dmarket_sandbox.client.requests()
    assert request["endpoint"] == "aggregated_prices"
    assert request["status"] == 200
    with pytest.raises(ValueError, match=r"1\.\.100 titles"):
        client.aggregated_prices(DOTA2, [*titles, "one more"], stats)


def test_last_sales_are_parsed_to_cents_newest_first(client: DMarketClient, dmarket_sandbox: DMarketSandbox) -> None:
    title = titles_of(dmarket_sandbox, DOTA2, 1)[0]
    page = client.last_sales(DOTA2, title, RequestStats())
    expected = select_sales(dmarket_sandbox.model.sales(DOTA2, title), limit=20)
    assert page.malformed == 0
    assert [(s.price_cents, s.date_s, s.into_order) for s in page.sales] == [
        (
            # The wire carries dollars with two decimals: exactly the model's cents.
            sale.price_cents,
            sale.date(dmarket_sandbox.sales_anchor),
            sale.tx_operation_type == TxOperationType.TARGET,
        )
        for sale in expected
    ]


ENTRY_KINDS = [
    "aggregated_price_number",
    "aggregated_price_bare_string",
    "aggregated_price_dollars",
    "aggregated_price_float",
    "aggregated_price_negative",
    "aggregated_price_garbage",
    "aggregated_price_null",
    "aggregated_count_number",
    "entry_not_object",
]


@pytest.mark.parametrize("kind", ENTRY_KINDS)
def test_an_aggregated_entry_of_another_shape_is_skipped_and_counted_never_guessed(
    client: DMarketClient, dmarket_sandbox: DMarketSandbox, kind: str
) -> None:
    titles = titles_of(dmarket_sandbox, DOTA2, 5)
    dmarket_sandbox.client.corrupt_next(kind, endpoint="aggregated_prices")
    stats = RequestStats()
    page = client.aggregated_prices(DOTA2, titles, stats)
    assert page.malformed == stats.malformed_valuations == 1
    assert set(page.prices) == set(titles[1:])


def test_unrequested_and_duplicated_titles_are_refused(client: DMarketClient, dmarket_sandbox: DMarketSandbox) -> None:
    titles = titles_of(dmarket_sandbox, DOTA2, 5)
    dmarket_sandbox.client.corrupt_next("aggregated_unrequested_title", endpoint="aggregated_prices")
    page = client.aggregated_prices(DOTA2, titles, RequestStats())
    assert (set(page.prices), page.malformed) == (set(titles), 1)
    dmarket_sandbox.client.corrupt_next("aggregated_duplicate_title", endpoint="aggregated_prices")
    page = client.aggregated_prices(DOTA2, titles, RequestStats())
    # Two different answers for one title: neither is trusted.
    assert set(page.prices) == set(titles[1:])
    assert page.malformed == 2


SALE_KINDS = {
    "sales_date_iso": 1,
    "sales_date_millis": 1,
    "sales_date_number": 1,
    "sales_date_garbage": 1,
    "sales_date_future": 1,
    "sales_date_negative": 1,
    "sales_price_number": 1,
    "sales_price_garbage": 1,
    "sales_price_negative": 1,
    "sales_tx_unknown": 1,
    "entry_not_object": 1,
    "sales_price_cents": 20,  # every price in cents: not the documented dollars, so none is read
}


@pytest.mark.parametrize(("kind", "skipped"), SALE_KINDS.items())
def test_a_sale_of_another_shape_is_skipped_and_counted(
    client: DMarketClient, dmarket_sandbox: DMarketSandbox, kind: str, skipped: int
) -> None:
    title = next(t for t in titles_of(dmarket_sandbox, DOTA2, 200) if len(dmarket_sandbox.model.sales(DOTA2, t)) >= 20)
    dmarket_sandbox.client.corrupt_next(kind, endpoint="last_sales")
    page = client.last_sales(DOTA2, title, RequestStats())
    assert page.malformed == skipped
    assert len(page.sales) == 20 - skipped


def test_order_named_order_and_oldest_first_are_read_as_documented(
    client: DMarketClient, dmarket_sandbox: DMarketSandbox
) -> None:
    title = titles_of(dmarket_sandbox, DOTA2, 1)[0]
    normal = client.last_sales(DOTA2, title, RequestStats())
    for kind in ("sales_tx_order", "sales_oldest_first"):
        dmarket_sandbox.client.corrupt_next(kind, endpoint="last_sales")
        assert client.last_sales(DOTA2, title, RequestStats()) == normal


@pytest.mark.parametrize("kind", ["body_not_json", "html_200", "entries_missing", "body_not_object"])
def test_a_body_that_is_not_the_envelope_is_an_api_error(
    client: DMarketClient, dmarket_sandbox: DMarketSandbox, kind: str
) -> None:
    dmarket_sandbox.client.corrupt_next(kind, endpoint="last_sales")
    with pytest.raises(DMarketAPIError):
        client.last_sales(DOTA2, titles_of(dmarket_sandbox, DOTA2, 1)[0], RequestStats())


@pytest.mark.parametrize("kind", ["invalid_utf8", "next_cursor_not_string", "entries_not_list", "body_truncated"])
def test_an_aggregated_body_that_cannot_be_read_is_an_api_error(
    client: DMarketClient, dmarket_sandbox: DMarketSandbox, kind: str
) -> None:
    dmarket_sandbox.client.corrupt_next(kind, endpoint="aggregated_prices")
    with pytest.raises(DMarketAPIError) as caught:
        client.aggregated_prices(DOTA2, titles_of(dmarket_sandbox, DOTA2, 5), RequestStats())
    assert caught.value.status == 200


def test_a_429_on_last_sales_holds_back_only_that_family(
    client: DMarketClient, dmarket_sandbox: DMarketSandbox, redis_client: redis.Redis
) -> None:
    title = titles_of(dmarket_sandbox, DOTA2, 1)[0]
    dmarket_sandbox.client.throttle_next(1, retry_after_s=30, endpoint="last_sales")
    stats = RequestStats()
    with pytest.raises(RateLimitError):  # 30 s is past the client's deadline: it gives up at once
        client.last_sales(DOTA2, title, stats)
    lanes = client.budgets.lanes
    now_us = redis_client.time()
    now = now_us[0] * 1_000_000 + now_us[1]
    assert int(redis_client.get(lanes[LAST_SALES].key) or 0) - now > 20_000_000
    # The other families are untouched: aggregated prices and the listing go out at once.
    client.aggregated_prices(DOTA2, [title], RequestStats())
    client.market_items(DOTA2, 100, 1000, stats=RequestStats())
    assert int(redis_client.get(lanes[OTHER].key) or 0) - now < 5_000_000
    assert int(redis_client.get(lanes[MARKET_ITEMS].key) or 0) - now < 5_000_000
