"""Valuation: what an offer really resells for, from what buyers pay. Pure, integer cents, no I/O.

Two ways to turn a purchase back into money (docs/arbitrage.md, "Valuation"):

- **instant flip**: sell at once into the best buy order: ``proceeds = floor(order × (1 − fee))``. Certain
  while the order stands.
- **listing flip**: list it at the resale price recent sales show: the *lower median* of the newest N sales
  within D days; liquidity is the number of sales in the window, and a title with fewer than K is not
  reported. The lower median of an even count is the smaller middle price: rounding never favours the user.

``suggestedPrice`` only chooses candidates (``is_candidate``); it is never the reported value here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.markets import SalesRule
from worker.arbitrage.engine import BP, INSTANT, LISTING, Opportunity, Rules, net_proceeds_cents, rank_key
from worker.dmarket.models import Offer
from worker.dmarket.valuation_api import SaleRecord, TitlePrices

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class ListingEstimate:
    """The resale price recent sales support, and how liquid the title is."""

    price_cents: int  # the lower median of the sales used
    sales_used: int  # N or fewer
    liquidity: int  # sales in the window among those fetched
    saturated: bool  # every sale fetched fell in the window: the true count may be higher


@dataclass(frozen=True, slots=True)
class Evidence:
    """What DMarket told us about one title: its buy orders (None: unknown) and recent sales (None: not asked)."""

    prices: TitlePrices | None = None
    sales: tuple[SaleRecord, ...] | None = None


def lower_median(values: Sequence[int]) -> int:
    """The smaller of the two middle values (the middle one when odd); ``values`` must not be empty."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def listing_estimate(sales: Iterable[SaleRecord], rule: SalesRule, now_s: int) -> ListingEstimate | None:
    """The lower median of the newest ``rule.sales_count`` sales in the window; None below ``rule.min_sales``."""
    fetched = list(sales)
    start_s = now_s - rule.window_days * DAY_S
    in_window = sorted((s for s in fetched if start_s <= s.date_s <= now_s), key=lambda s: s.date_s, reverse=True)
    if len(in_window) < rule.min_sales:
        return None
    used = in_window[: rule.sales_count]
    return ListingEstimate(
        price_cents=lower_median([s.price_cents for s in used]),
        sales_used=len(used),
        liquidity=len(in_window),
        saturated=bool(fetched) and len(in_window) == len(fetched),
    )


def _qualifies(profit_cents: int, price_cents: int, min_profit_bp: int) -> bool:
    # profit/price >= min_profit_bp/BP, exactly, by cross-multiplying instead of dividing.
    return profit_cents > 0 and profit_cents * BP >= min_profit_bp * price_cents


def _flip(offer: Offer, rules: Rules, basis: str, resale_cents: int, **evidence: Any) -> Opportunity | None:
    """Buying ``offer`` and reselling at ``resale_cents`` less the fee, if that clears the level's threshold."""
    proceeds = net_proceeds_cents(resale_cents, rules.fee_bp)
    profit = proceeds - offer.price_cents
    if not _qualifies(profit, offer.price_cents, rules.min_profit_bp):
        return None
    return Opportunity(
        item_id=offer.item_id,
        title=offer.title,
        price_cents=offer.price_cents,
        suggested_price_cents=offer.suggested_price_cents or 0,
        proceeds_cents=proceeds,
        profit_cents=profit,
        profit_bp=profit * BP // offer.price_cents,
        basis=basis,
        resale_cents=resale_cents,
        **evidence,
    )


def is_candidate(offer: Offer, rules: Rules) -> bool:
    """The pre-filter: in the band, and under DMarket's suggested price after the fee (worth looking up)."""
    suggested = offer.suggested_price_cents
    if not suggested or not rules.level.contains(offer.price_cents):
        return False
    return net_proceeds_cents(suggested, rules.fee_bp) > offer.price_cents


def instant_flip(offer: Offer, rules: Rules, prices: TitlePrices | None) -> Opportunity | None:
    """Buy ``offer`` and sell it into the best buy order at once, if that clears the level's threshold."""
    if prices is None or prices.order_best_price_cents <= 0 or not rules.level.contains(offer.price_cents):
        return None
    return _flip(offer, rules, INSTANT, prices.order_best_price_cents, liquidity=prices.order_count)


def listing_flip(
    offer: Offer, rules: Rules, rule: SalesRule, sales: Iterable[SaleRecord] | None, now_s: int
) -> Opportunity | None:
    """Buy ``offer`` and list it at the recent sales' lower median, if liquid enough and above the threshold."""
    if sales is None or not rules.level.contains(offer.price_cents):
        return None
    estimate = listing_estimate(sales, rule, now_s)
    if estimate is None:
        return None
    return _flip(
        offer,
        rules,
        LISTING,
        estimate.price_cents,
        sales_used=estimate.sales_used,
        window_days=rule.window_days,
        liquidity=estimate.liquidity,
        liquidity_saturated=estimate.saturated,
    )


def value_offer(offer: Offer, rules: Rules, rule: SalesRule, evidence: Evidence, now_s: int) -> Opportunity | None:
    """The offer's opportunity: the instant flip when it clears the threshold (certain), else the listing flip."""
    return instant_flip(offer, rules, evidence.prices) or listing_flip(offer, rules, rule, evidence.sales, now_s)


def value_offers(
    offers: Iterable[Offer], rules: Rules, rule: SalesRule, evidence: Mapping[str, Evidence], now_s: int
) -> list[Opportunity]:
    """Every opportunity among ``offers`` given the evidence per title, best first; an item id counts once."""
    found: dict[str, Opportunity] = {}
    for offer in offers:
        opportunity = value_offer(offer, rules, rule, evidence.get(offer.title, Evidence()), now_s)
        if opportunity is not None:
            found.setdefault(opportunity.item_id, opportunity)
    return sorted(found.values(), key=rank_key)
