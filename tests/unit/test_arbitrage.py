"""The arbitrage engine, specified by properties over arbitrary offers and checked against an exact oracle."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.arguments import UsageError
from bot.handlers.arbitrage import parse_arguments, usage
from common.markets import LEVELS, Level
from worker.arbitrage.engine import (
    BP,
    Offer,
    OpportunityFinder,
    Rules,
    evaluate,
    find_opportunities,
    net_proceeds_cents,
)
from worker.arbitrage.messages import MAX_MESSAGE_UTF16

levels = st.sampled_from(list(LEVELS.values()))
offers = st.builds(
    Offer,
    item_id=st.uuids().map(str),
    title=st.text(min_size=1, max_size=40),
    price_cents=st.integers(min_value=1, max_value=150_000),
    suggested_price_cents=st.none() | st.integers(min_value=0, max_value=250_000),
)
rules = st.builds(
    Rules,
    level=levels,
    fee_bp=st.integers(min_value=0, max_value=3_000),
    min_profit_bp=st.integers(min_value=0, max_value=5_000),
)


def oracle_profit_cents(offer: Offer, fee_bp: int) -> int:
    """Profit computed independently: exact rational proceeds, floored once."""
    assert offer.suggested_price_cents is not None
    exact = Fraction(offer.suggested_price_cents) * (1 - Fraction(fee_bp, BP))
    return int(exact.__floor__()) - offer.price_cents


def qualifies(offer: Offer, r: Rules) -> bool:
    if not offer.suggested_price_cents or not r.level.contains(offer.price_cents):
        return False
    profit = oracle_profit_cents(offer, r.fee_bp)
    return profit > 0 and Fraction(profit, offer.price_cents) >= Fraction(r.min_profit_bp, BP)


@given(st.lists(offers, max_size=60, unique_by=lambda o: o.item_id), rules)
def test_reports_exactly_the_offers_at_or_above_the_threshold(market: list[Offer], r: Rules) -> None:
    found = find_opportunities(market, r)
    assert {o.item_id for o in found} == {o.item_id for o in market if qualifies(o, r)}


@given(st.lists(offers, max_size=60, unique_by=lambda o: o.item_id), rules)
def test_every_reported_figure_is_exact_and_never_in_the_users_favour(market: list[Offer], r: Rules) -> None:
    by_id = {o.item_id: o for o in market}
    for opportunity in find_opportunities(market, r):
        offer = by_id[opportunity.item_id]
        assert opportunity.profit_cents == oracle_profit_cents(offer, r.fee_bp)
        assert opportunity.proceeds_cents <= Fraction(opportunity.suggested_price_cents) * (1 - Fraction(r.fee_bp, BP))
        assert opportunity.profit_bp == opportunity.profit_cents * BP // opportunity.price_cents
        assert opportunity.profit_bp >= r.min_profit_bp


@given(st.lists(offers, max_size=60), rules)
def test_results_are_sorted_by_profit_and_each_item_appears_once(market: list[Offer], r: Rules) -> None:
    found = find_opportunities(market, r)
    assert [o.profit_cents for o in found] == sorted((o.profit_cents for o in found), reverse=True)
    assert len({o.item_id for o in found}) == len(found)


@given(st.lists(st.lists(offers, max_size=20), max_size=6), rules)
def test_a_market_read_page_by_page_finds_what_find_opportunities_finds_in_one_go(
    pages: list[list[Offer]], r: Rules
) -> None:
    # scan_market feeds the finder a page at a time; the properties above are proved on find_opportunities.
    finder = OpportunityFinder(r)
    for page in pages:
        finder.add(page)
    everything = [offer for page in pages for offer in page]
    assert finder.ranked() == find_opportunities(everything, r)
    assert len(finder) == len(find_opportunities(everything, r))


@given(offers, rules)
def test_an_offer_without_a_suggested_price_is_skipped(offer: Offer, r: Rules) -> None:
    for unknown in (None, 0):  # DMarket sends "0" for "no suggested price"
        no_price = Offer(offer.item_id, offer.title, offer.price_cents, unknown)
        assert evaluate(no_price, r) is None


@pytest.mark.parametrize(
    ("suggested", "fee_bp", "proceeds"),
    [
        (1_000, 700, 930),  # exact
        (999, 700, 929),  # 929.07 floors
        (1_001, 700, 930),  # 930.93 floors too: never rounded up
        (1, 700, 0),
        (12_345, 1_000, 11_110),  # 11110.5 floors
    ],
)
def test_net_proceeds_are_floored_to_the_cent(suggested: int, fee_bp: int, proceeds: int) -> None:
    assert net_proceeds_cents(suggested, fee_bp) == proceeds


def test_the_threshold_is_inclusive_and_compared_without_rounding() -> None:
    level = Level("t", 100, 10_000, min_profit_bp=700)
    r = Rules(level, fee_bp=0, min_profit_bp=700)
    assert evaluate(Offer("a", "A", 1_000, 1_070), r) is not None  # exactly 7 %
    assert evaluate(Offer("b", "B", 1_000, 1_069), r) is None  # 6.9 %
    # 70/1001 = 6.993 %: a float or a rounded percentage could call this 7 %.
    assert evaluate(Offer("c", "C", 1_001, 1_071), r) is None


def test_level_bands_are_half_open_so_no_item_belongs_to_two_levels() -> None:
    bands = sorted(LEVELS.values(), key=lambda lv: lv.min_price_cents)
    for lower, upper in itertools.pairwise(bands):
        assert lower.max_price_cents == upper.min_price_cents
        assert not lower.contains(upper.min_price_cents)
        assert upper.contains(upper.min_price_cents)


def test_rules_refuse_impossible_fees() -> None:
    with pytest.raises(ValueError, match="fee_bp must be in"):
        Rules(LEVELS["boost"], fee_bp=10_000, min_profit_bp=0)


@pytest.mark.parametrize("args", [["x" * 5_000], ["csgo", "x" * 5_000], ["csgo", "pro", "x" * 5_000]])
def test_a_huge_unknown_argument_is_echoed_shortened_within_telegrams_limit(args: list[str]) -> None:
    with pytest.raises(UsageError) as error:
        parse_arguments(args)
    for lang in ("ru", "en"):
        reply = usage(lang, error.value.value)
        assert len(reply) < MAX_MESSAGE_UTF16 // 4
        assert "xxxx" in reply
        assert "x" * 100 not in reply
        assert reply.endswith("/arbitrage dota2 pro")  # the usage itself is never cut
