"""What the valuation should find in the DMarket sandbox's market, computed from its pure model (no HTTP)."""

from __future__ import annotations

from common.markets import SalesRule
from sandbox.dmarket import TxOperationType, select_sales
from sandbox.dmarket.truth import MarketModel
from worker.arbitrage.engine import Opportunity, Rules, net_proceeds_cents
from worker.arbitrage.valuation import Evidence, is_candidate, value_offers
from worker.dmarket.models import Offer
from worker.dmarket.valuation_api import SaleRecord, TitlePrices


def evidence_from(model: MarketModel, game_id: str, title: str, anchor: int) -> Evidence:
    """What the client reads for ``title``: its aggregated-prices entry and its newest 20 sales."""
    entry = model.aggregated_price(game_id, title)
    prices = None
    if entry is not None:
        prices = TitlePrices(
            entry.title,
            entry.order_best_price_cents,
            entry.order_count,
            entry.offer_best_price_cents,
            entry.offer_count,
        )
    sales = tuple(
        SaleRecord(s.price_cents, s.date(anchor), s.tx_operation_type == TxOperationType.TARGET)
        for s in select_sales(model.sales(game_id, title), limit=20)
    )
    return Evidence(prices, sales)


def offers_of(model: MarketModel, game_id: str) -> list[Offer]:
    return [Offer(i.item_id, i.title, i.price_cents, i.suggested_price_cents) for i in model.items[game_id]]


def valued(
    model: MarketModel, game_id: str, rules: Rules, rule: SalesRule, anchor: int, now_s: int | None = None
) -> list[Opportunity]:
    """The valuation's opportunities in the band: candidates by suggestedPrice, valued from the evidence."""
    candidates = [o for o in offers_of(model, game_id) if is_candidate(o, rules)]
    evidence = {t: evidence_from(model, game_id, t, anchor) for t in {o.title for o in candidates}}
    return value_offers(candidates, rules, rule, evidence, anchor if now_s is None else now_s)


def fake(model: MarketModel, game_id: str, opportunity: Opportunity, fee_bp: int) -> bool:
    """Its true resale value after the fee is below what it costs: buying it loses money."""
    true_value = model.truth[game_id][opportunity.title].true_value_cents
    return net_proceeds_cents(true_value, fee_bp) < opportunity.price_cents
