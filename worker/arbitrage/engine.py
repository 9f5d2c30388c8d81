"""The arbitrage engine: which offers resell for more than they cost after DMarket's fee. Pure, no I/O.

Money is integer cents and percentages are basis points (1 bp = 0.01 %), so nothing is ever rounded by a
float. The one rounding step is explicit: the net proceeds of a resale are floored to the cent, so a
reported profit is never larger than what the sale would really bring in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common.markets import Level
from worker.dmarket.models import Offer

BP = 10_000  # basis points in 100 %


@dataclass(frozen=True, slots=True)
class Rules:
    """What one scan looks for: a level's price band, the fee on resale, the least profit worth reporting."""

    level: Level
    fee_bp: int
    min_profit_bp: int

    def __post_init__(self) -> None:
        if not 0 <= self.fee_bp < BP:
            raise ValueError(f"fee_bp must be in [0, {BP}), got {self.fee_bp}")
        if self.min_profit_bp < 0:
            raise ValueError(f"min_profit_bp must be >= 0, got {self.min_profit_bp}")


SUGGESTED, INSTANT, LISTING = "suggested", "instant", "listing"
BASES = (SUGGESTED, INSTANT, LISTING)


@dataclass(frozen=True, slots=True)
class Opportunity:
    """An offer worth buying: bought at ``price_cents``, resold at ``resale_cents`` (its basis), minus the fee.

    ``basis`` says what the resale price is: ``instant`` the best buy order (sell into it at once),
    ``listing`` the median of recent sales (list it and wait), ``suggested`` DMarket's own estimate (only
    when asked for; worker/arbitrage/valuation.py values the rest).
    """

    item_id: str
    title: str
    price_cents: int
    suggested_price_cents: int
    proceeds_cents: int  # the resale price minus the fee, floored to the cent
    profit_cents: int
    profit_bp: int  # profit / price, floored to the basis point
    basis: str = SUGGESTED
    resale_cents: int = 0  # what it resells for before the fee; 0: the suggested price (basis "suggested")
    sales_used: int = 0  # listing: sales the median was taken of
    window_days: int = 0  # listing: the window those sales fell in
    liquidity: int = 0  # listing: sales in the window (at least this many when saturated); instant: buy orders
    liquidity_saturated: bool = False  # every sale fetched was in the window: there may be more

    @property
    def resale_price_cents(self) -> int:
        return self.resale_cents or self.suggested_price_cents


def net_proceeds_cents(suggested_price_cents: int, fee_bp: int) -> int:
    """What a sale at the suggested price brings in after the fee, floored (never in the user's favour)."""
    return suggested_price_cents * (BP - fee_bp) // BP


def evaluate(offer: Offer, rules: Rules) -> Opportunity | None:
    """The opportunity in ``offer`` under ``rules``, or None (outside the band, no suggested price, too thin)."""
    suggested = offer.suggested_price_cents
    if not suggested or not rules.level.contains(offer.price_cents):
        return None  # no suggested price: never invent one
    proceeds = net_proceeds_cents(suggested, rules.fee_bp)
    profit = proceeds - offer.price_cents
    # Compare profit/price >= min_profit_bp/BP exactly, by cross-multiplying instead of dividing.
    if profit <= 0 or profit * BP < rules.min_profit_bp * offer.price_cents:
        return None
    return Opportunity(
        item_id=offer.item_id,
        title=offer.title,
        price_cents=offer.price_cents,
        suggested_price_cents=suggested,
        proceeds_cents=proceeds,
        profit_cents=profit,
        profit_bp=profit * BP // offer.price_cents,
    )


def rank_key(opportunity: Opportunity) -> tuple[int, int, str]:
    """Most profit first; then the better percentage; then item id, so the order is total and stable."""
    return (-opportunity.profit_cents, -opportunity.profit_bp, opportunity.item_id)


class OpportunityFinder:
    """Collects the opportunities among offers that arrive in batches (a scan's pages), best first on demand.

    The one implementation of "which offers, in which order": ``find_opportunities`` is this over a single
    batch, so what the property tests prove of it holds for a scan read page by page.
    """

    def __init__(self, rules: Rules) -> None:
        self._rules = rules
        self._found: dict[str, Opportunity] = {}

    def add(self, offers: Iterable[Offer]) -> None:
        """Evaluate ``offers``. An item id already found counts once (a listing that moved between pages)."""
        for offer in offers:
            opportunity = evaluate(offer, self._rules)
            if opportunity is not None:
                self._found.setdefault(opportunity.item_id, opportunity)

    def __len__(self) -> int:
        return len(self._found)

    def ranked(self) -> list[Opportunity]:
        return sorted(self._found.values(), key=rank_key)


def find_opportunities(offers: Iterable[Offer], rules: Rules) -> list[Opportunity]:
    """Every opportunity among ``offers``, best first. An offer listed twice (same item id) counts once."""
    finder = OpportunityFinder(rules)
    finder.add(offers)
    return finder.ranked()
