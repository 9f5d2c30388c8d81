"""The hidden truth behind the generated market: what each title really resells for, and what follows.

Pure: no I/O, no clock. Tests compute every expectation from these functions, without HTTP, and the
server serves exactly their output. Money is integer USD cents throughout.

For every catalogue title (``market.generate_catalogue``), independently of how many listings the
market has, a private random stream (seeded by seed, game and title) draws:

* a **liquidity** tier and a rate of sales per day: ``illiquid`` (20%, 0.03-0.4 a day: a title can go
  days or weeks without a sale), ``normal`` (60%, 0.5-8 a day), ``liquid`` (20%, 8-60 a day);
* the **true resale value**. DMarket's ``suggestedPrice`` is fair for most liquid titles but stale and
  inflated for most illiquid ones: overstated for 75% of illiquid, 20% of normal and 5% of liquid
  titles, where the true value is 55-85% of the suggested price; otherwise it is 95-103% of it. A
  title without a suggested price gets a true value drawn log-uniformly from $0.03 to $2,000;
* **buy orders** (targets): a count that grows with liquidity (0-3, 1-25, 10-120) and a best order a
  spread under the true value (15-35%, 5-15%, 2-7%), so the best order is always below it;
* **sales** (``title_sales``, from a second stream, drawn on demand): a Poisson process going back from
  the anchor at the title's rate, for at most 365 days and 500 sales. 70% are ``Offer`` sales (a buyer
  took a listing) at 95-105% of the true value, 30% ``Target`` sales (a seller filled a buy order) at
  95-105% of the best-order level; 3% of sales are outliers at 20-50% or 180-400% of that level.

The listings themselves (``market.generate_market``) keep being priced against the suggested price, so a
"deal" 10-40% under an overstated suggested price may be no deal at all: that is the trap the truth
exposes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sandbox.dmarket.market import (
    GAME_IDS,
    MAX_SUGGESTED_CENTS,
    MIN_PRICE_CENTS,
    MIN_SUGGESTED_CENTS,
    Catalogue,
    CatalogueEntry,
    Item,
    Market,
    generate_catalogue,
    generate_market,
)

DAY_S = 24 * 3600
SALES_HORIZON_S = 365 * DAY_S  # DMarket: "the item sales history, up to 12 last months"
MAX_SALES_PER_TITLE = 500
OFFER_SALE_SHARE_PERCENT = 70
OUTLIER_SHARE_PER_MILLE = 30
SALE_NOISE_BP = (9_500, 10_500)
LOW_OUTLIER_BP = (2_000, 5_000)
HIGH_OUTLIER_BP = (18_000, 40_000)
OVERSTATED_TRUE_BP = (5_500, 8_500)  # true value as basis points of an overstated suggested price
FAIR_TRUE_BP = (9_500, 10_300)


class Liquidity(StrEnum):
    ILLIQUID = "illiquid"
    NORMAL = "normal"
    LIQUID = "liquid"


class TxOperationType(StrEnum):
    """How a sale happened, as ``last-sales`` names it."""

    OFFER = "Offer"  # a buyer bought a listing
    TARGET = "Target"  # a seller sold into a buy order


@dataclass(frozen=True, slots=True)
class _Tier:
    share_percent: int
    sales_per_day: tuple[float, float]
    overstated_percent: int
    order_count: tuple[int, int]
    spread_bp: tuple[int, int]


_TIERS: dict[Liquidity, _Tier] = {
    Liquidity.ILLIQUID: _Tier(20, (0.03, 0.4), 75, (0, 3), (1_500, 3_500)),
    Liquidity.NORMAL: _Tier(60, (0.5, 8.0), 20, (1, 25), (500, 1_500)),
    Liquidity.LIQUID: _Tier(20, (8.0, 60.0), 5, (10, 120), (200, 700)),
}


@dataclass(frozen=True, slots=True)
class TitleTruth:
    """What one title is really worth, and the buy orders that follow from it."""

    game_id: str
    title: str
    suggested_price_cents: int | None  # as the listings show it (None: no suggested price)
    true_value_cents: int  # what the title typically sells for as an Offer sale
    suggested_overstated: bool  # the suggested price is stale/inflated (55-85% of it is true)
    liquidity: Liquidity
    sales_per_day: float
    spread_bp: int  # how far under the true value the best buy order sits
    order_count: int  # open buy orders (targets)
    order_best_price_cents: int  # the best (highest) buy order; 0 when there are none

    @property
    def overstatement_bp(self) -> int | None:
        """Suggested price as basis points of the true value (10000 = fair); None without one."""
        if self.suggested_price_cents is None:
            return None
        return self.suggested_price_cents * 10_000 // self.true_value_cents


@dataclass(frozen=True, slots=True)
class Sale:
    """One completed sale. ``age_s`` counts back from the anchor, so the date is ``anchor - age_s``."""

    age_s: int
    price_cents: int
    tx_operation_type: TxOperationType
    outlier: bool

    def date(self, anchor: int) -> int:
        return anchor - self.age_s


@dataclass(frozen=True, slots=True)
class OfferStats:
    """The listings of one title: how many, and the cheapest."""

    count: int
    best_price_cents: int


@dataclass(frozen=True, slots=True)
class AggregatedPrice:
    """One entry of ``aggregated-prices``: best buy order and best offer of a title, with counts."""

    title: str
    order_best_price_cents: int  # 0: no buy orders
    order_count: int
    offer_best_price_cents: int  # 0: not listed
    offer_count: int


def _scaled(cents: int, bp: int) -> int:
    return cents * bp // 10_000


def _log_uniform_cents(rng: random.Random, low: int, high: int) -> int:
    return min(high, max(low, round(math.exp(rng.uniform(math.log(low), math.log(high))))))


def _liquidity(roll: int) -> Liquidity:
    for liquidity, tier in _TIERS.items():
        if roll < tier.share_percent:
            return liquidity
        roll -= tier.share_percent
    raise ValueError("tier shares must add up to 100")


def title_truth(seed: int, game_id: str, title: str, suggested_price_cents: int | None) -> TitleTruth:
    """The truth of one title. Depends only on the seed, the game, the title and its suggested price."""
    rng = random.Random(f"sandbox.dmarket.truth:{seed}:{game_id}:{title}")
    liquidity = _liquidity(rng.randrange(100))
    tier = _TIERS[liquidity]
    sales_per_day = rng.uniform(*tier.sales_per_day)
    overstated = False
    if suggested_price_cents is None:
        true_value = _log_uniform_cents(rng, MIN_SUGGESTED_CENTS, MAX_SUGGESTED_CENTS)
    else:
        overstated = rng.randrange(100) < tier.overstated_percent
        bp = rng.randint(*(OVERSTATED_TRUE_BP if overstated else FAIR_TRUE_BP))
        true_value = max(MIN_PRICE_CENTS, _scaled(suggested_price_cents, bp))
    spread_bp = rng.randint(*tier.spread_bp)
    order_count = rng.randint(*tier.order_count)
    # floor(true * (1 - spread)) < true for any true >= 1 and spread > 0: orders sit below the value.
    order_best = max(1, _scaled(true_value, 10_000 - spread_bp)) if order_count else 0
    return TitleTruth(
        game_id=game_id,
        title=title,
        suggested_price_cents=suggested_price_cents,
        true_value_cents=true_value,
        suggested_overstated=overstated,
        liquidity=liquidity,
        sales_per_day=sales_per_day,
        spread_bp=spread_bp,
        order_count=order_count,
        order_best_price_cents=order_best,
    )


def title_sales(seed: int, truth: TitleTruth) -> tuple[Sale, ...]:
    """Every sale of a title within the horizon, newest first (ages strictly increasing)."""
    rng = random.Random(f"sandbox.dmarket.sales:{seed}:{truth.game_id}:{truth.title}")
    mean_gap_s = DAY_S / truth.sales_per_day
    target_level = _scaled(truth.true_value_cents, 10_000 - truth.spread_bp)
    sales: list[Sale] = []
    age_s = 0
    while len(sales) < MAX_SALES_PER_TITLE:
        age_s += 1 + int(rng.expovariate(1.0) * mean_gap_s)  # +1: strictly older than the previous one
        if age_s > SALES_HORIZON_S:
            break
        offer = rng.randrange(100) < OFFER_SALE_SHARE_PERCENT
        level = truth.true_value_cents if offer else target_level
        outlier = rng.randrange(1_000) < OUTLIER_SHARE_PER_MILLE
        if outlier:
            bp = rng.randint(*(LOW_OUTLIER_BP if rng.randrange(2) == 0 else HIGH_OUTLIER_BP))
        else:
            bp = rng.randint(*SALE_NOISE_BP)
        sales.append(
            Sale(
                age_s=age_s,
                price_cents=max(MIN_PRICE_CENTS, _scaled(level, bp)),
                tx_operation_type=TxOperationType.OFFER if offer else TxOperationType.TARGET,
                outlier=outlier,
            )
        )
    return tuple(sales)


def select_sales(
    sales: Sequence[Sale], tx_types: Iterable[TxOperationType] = (), offset: int = 0, limit: int = 20
) -> list[Sale]:
    """What ``last-sales`` returns: newest first, optionally only some operation types, then paged."""
    wanted = frozenset(tx_types)
    matching = [sale for sale in sales if not wanted or sale.tx_operation_type in wanted]
    return matching[offset : offset + limit]


def offer_stats(items: Iterable[Item]) -> dict[str, OfferStats]:
    """Per title: how many listings and the cheapest one."""
    counts: dict[str, int] = {}
    best: dict[str, int] = {}
    for item in items:
        counts[item.title] = counts.get(item.title, 0) + 1
        best[item.title] = min(best.get(item.title, item.price_cents), item.price_cents)
    return {title: OfferStats(count=counts[title], best_price_cents=best[title]) for title in counts}


@dataclass(frozen=True)
class MarketModel:
    """The whole generated market: listings, catalogue, truth per title and offers per title."""

    seed: int
    items_per_game: int
    items: Market
    catalogue: Catalogue
    truth: Mapping[str, Mapping[str, TitleTruth]]  # game id -> title -> truth (every catalogue title)
    offers: Mapping[str, Mapping[str, OfferStats]]  # game id -> title -> listings (listed titles only)
    items_by_id: Mapping[str, Mapping[str, Item]]  # game id -> item id -> listing

    def item(self, game_id: str, item_id: str) -> Item | None:
        return self.items_by_id.get(game_id, {}).get(item_id)

    def aggregated_price(self, game_id: str, title: str) -> AggregatedPrice | None:
        """The ``aggregated-prices`` entry of a title; None when the game has no such title."""
        truth = self.truth.get(game_id, {}).get(title)
        if truth is None:
            return None
        offers = self.offers[game_id].get(title, OfferStats(count=0, best_price_cents=0))
        return AggregatedPrice(
            title=title,
            order_best_price_cents=truth.order_best_price_cents,
            order_count=truth.order_count,
            offer_best_price_cents=offers.best_price_cents,
            offer_count=offers.count,
        )

    def aggregated_prices(self, game_id: str, titles: Iterable[str]) -> list[AggregatedPrice]:
        """Entries for the known titles among ``titles``, in request order, each title once."""
        entries = (self.aggregated_price(game_id, title) for title in dict.fromkeys(titles))
        return [entry for entry in entries if entry is not None]

    def sales(self, game_id: str, title: str) -> tuple[Sale, ...]:
        """Every sale of a title, newest first; empty for a title the game does not have."""
        truth = self.truth.get(game_id, {}).get(title)
        return () if truth is None else title_sales(self.seed, truth)


def _truth_of(seed: int, entry: CatalogueEntry) -> TitleTruth:
    return title_truth(seed, entry.game_id, entry.title, entry.suggested_price_cents)


def build_market_model(seed: int, items_per_game: int) -> MarketModel:
    """The model the server serves for ``(seed, items_per_game)``; pure and deterministic."""
    items = generate_market(seed, items_per_game)
    catalogue = generate_catalogue(seed, items_per_game)
    return MarketModel(
        seed=seed,
        items_per_game=items_per_game,
        items=items,
        catalogue=catalogue,
        truth={
            game_id: {title: _truth_of(seed, entry) for title, entry in catalogue[game_id].items()}
            for game_id in GAME_IDS
        },
        offers={game_id: offer_stats(items[game_id]) for game_id in GAME_IDS},
        items_by_id={game_id: {item.item_id: item for item in items[game_id]} for game_id in GAME_IDS},
    )
