"""The valuation engine, specified by properties and checked against exact oracles (Fraction, statistics)."""

from __future__ import annotations

import math
import statistics
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from common.markets import LEVELS, SALES_RULES, SalesRule
from worker.arbitrage.engine import BP, INSTANT, LISTING, Rules, find_opportunities
from worker.arbitrage.valuation import (
    DAY_S,
    Evidence,
    instant_flip,
    is_candidate,
    listing_estimate,
    listing_flip,
    lower_median,
    value_offer,
    value_offers,
)
from worker.dmarket.models import Offer
from worker.dmarket.valuation_api import SaleRecord, TitlePrices

NOW = 1_800_000_000
levels = st.sampled_from(list(LEVELS.values()))
rules = st.builds(
    Rules,
    level=levels,
    fee_bp=st.integers(min_value=0, max_value=3_000),
    min_profit_bp=st.integers(min_value=0, max_value=5_000),
)
sales_rules = st.builds(
    SalesRule,
    min_sales=st.integers(min_value=1, max_value=5),
    sales_count=st.integers(min_value=5, max_value=20),
    window_days=st.integers(min_value=1, max_value=60),
)
sale = st.builds(
    SaleRecord,
    price_cents=st.integers(min_value=1, max_value=200_000),
    date_s=st.integers(min_value=NOW - 90 * DAY_S, max_value=NOW + 100),
    into_order=st.booleans(),
)
offer = st.builds(
    Offer,
    item_id=st.uuids().map(str),
    title=st.sampled_from(["A", "B", "C"]),
    price_cents=st.integers(min_value=1, max_value=150_000),
    suggested_price_cents=st.none() | st.integers(min_value=1, max_value=250_000),
)
prices = st.builds(
    TitlePrices,
    title=st.just("A"),
    order_best_price_cents=st.integers(min_value=0, max_value=250_000),
    order_count=st.integers(min_value=0, max_value=100),
    offer_best_price_cents=st.integers(min_value=0, max_value=250_000),
    offer_count=st.integers(min_value=0, max_value=100),
)


def oracle_proceeds(resale_cents: int, fee_bp: int) -> int:
    return math.floor(Fraction(resale_cents) * (1 - Fraction(fee_bp, BP)))


def oracle_reported(profit: int, price: int, min_profit_bp: int) -> bool:
    return profit > 0 and Fraction(profit, price) >= Fraction(min_profit_bp, BP)


@given(offer, rules, prices)
def test_an_instant_flip_is_the_best_order_after_the_fee_floored_to_the_cent(
    o: Offer, r: Rules, p: TitlePrices
) -> None:
    found = instant_flip(o, r, p)
    proceeds = oracle_proceeds(p.order_best_price_cents, r.fee_bp)
    profit = proceeds - o.price_cents
    expected = p.order_best_price_cents > 0 and r.level.contains(o.price_cents)
    if not expected or not oracle_reported(profit, o.price_cents, r.min_profit_bp):
        assert found is None
        return
    assert found is not None
    assert (found.basis, found.resale_cents, found.proceeds_cents, found.profit_cents) == (
        INSTANT,
        p.order_best_price_cents,
        proceeds,
        profit,
    )
    assert found.profit_bp == math.floor(Fraction(profit * BP, o.price_cents))
    assert found.liquidity == p.order_count
    # Never in the user's favour: what is reported is at most the exact profit, and at most 1 cent below it.
    exact = Fraction(p.order_best_price_cents) * (1 - Fraction(r.fee_bp, BP)) - o.price_cents
    assert exact - 1 < found.profit_cents <= exact


@given(st.lists(sale, max_size=30, unique_by=lambda s: s.date_s), sales_rules)
def test_the_listing_estimate_is_the_lower_median_of_the_newest_n_sales_in_the_window(
    fetched: list[SaleRecord], rule: SalesRule
) -> None:
    in_window = [s for s in fetched if NOW - rule.window_days * DAY_S <= s.date_s <= NOW]
    estimate = listing_estimate(fetched, rule, NOW)
    if len(in_window) < rule.min_sales:
        assert estimate is None  # fewer than K sales in the window: not reported
        return
    assert estimate is not None
    newest = sorted(in_window, key=lambda s: s.date_s, reverse=True)[: rule.sales_count]
    assert estimate.price_cents == statistics.median_low([s.price_cents for s in newest])
    assert estimate.price_cents <= statistics.median([s.price_cents for s in newest])  # never in the user's favour
    assert (estimate.liquidity, estimate.sales_used) == (len(in_window), len(newest))
    assert estimate.saturated == (len(in_window) == len(fetched))


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=21))
def test_the_lower_median_never_exceeds_the_median(values: list[int]) -> None:
    assert lower_median(values) == statistics.median_low(values)
    assert lower_median(values) <= statistics.median(values)


@given(
    st.integers(min_value=0, max_value=9).flatmap(
        lambda k: st.tuples(
            st.lists(st.integers(min_value=900, max_value=1_100), min_size=20 - k, max_size=20 - k),
            st.lists(st.integers(min_value=1, max_value=1_000_000), min_size=k, max_size=k),
        )
    )
)
def test_outliers_fewer_than_half_the_sales_cannot_move_the_estimate_outside_the_normal_prices(
    draw: tuple[list[int], list[int]],
) -> None:
    normal, outliers = draw
    sales = [SaleRecord(price, NOW - 60 * i, False) for i, price in enumerate(normal + outliers)]
    estimate = listing_estimate(sales, SalesRule(min_sales=5, sales_count=20, window_days=7), NOW)
    assert estimate is not None
    assert min(normal) <= estimate.price_cents <= max(normal)


@given(offer, rules, sales_rules, st.lists(sale, max_size=25))
def test_a_listing_flip_is_the_estimate_after_the_fee_and_needs_k_sales(
    o: Offer, r: Rules, rule: SalesRule, fetched: list[SaleRecord]
) -> None:
    found = listing_flip(o, r, rule, fetched, NOW)
    estimate = listing_estimate(fetched, rule, NOW)
    if estimate is None or not r.level.contains(o.price_cents):
        assert found is None
        return
    proceeds = oracle_proceeds(estimate.price_cents, r.fee_bp)
    if not oracle_reported(proceeds - o.price_cents, o.price_cents, r.min_profit_bp):
        assert found is None
        return
    assert found is not None
    assert (found.basis, found.proceeds_cents, found.profit_cents) == (LISTING, proceeds, proceeds - o.price_cents)
    assert (found.sales_used, found.liquidity, found.window_days) == (
        estimate.sales_used,
        estimate.liquidity,
        rule.window_days,
    )


@given(offer, rules, sales_rules, prices, st.lists(sale, max_size=25))
def test_the_instant_flip_wins_when_it_qualifies_and_suggested_price_is_never_the_value(
    o: Offer, r: Rules, rule: SalesRule, p: TitlePrices, fetched: list[SaleRecord]
) -> None:
    found = value_offer(o, r, rule, Evidence(p, tuple(fetched)), NOW)
    instant = instant_flip(o, r, p)
    assert found == (instant or listing_flip(o, r, rule, fetched, NOW))
    if found is not None:
        assert found.basis in (INSTANT, LISTING)
        assert found.resale_cents in (p.order_best_price_cents, *(s.price_cents for s in fetched))
    # No evidence, no opportunity, whatever the suggested price says.
    assert value_offer(o, r, rule, Evidence(), NOW) is None


@given(st.lists(offer, max_size=30), rules, prices, st.lists(sale, max_size=25))
def test_value_offers_ranks_like_the_engine_and_counts_an_item_once(
    offers: list[Offer], r: Rules, p: TitlePrices, fetched: list[SaleRecord]
) -> None:
    evidence = {"A": Evidence(p, tuple(fetched))}
    rule = SALES_RULES[r.level.name]
    found = value_offers([*offers, *offers], r, rule, evidence, NOW)
    assert len({o.item_id for o in found}) == len(found)
    assert [o.item_id for o in found] == [
        o.item_id for o in sorted(found, key=lambda o: (-o.profit_cents, -o.profit_bp, o.item_id))
    ]
    assert all(o.title == "A" for o in found)


@given(offer, rules)
def test_the_pre_filter_is_the_suggested_method_with_no_minimum(o: Offer, r: Rules) -> None:
    loose = Rules(r.level, r.fee_bp, 0)
    assert is_candidate(o, r) == bool(find_opportunities([o], loose))
