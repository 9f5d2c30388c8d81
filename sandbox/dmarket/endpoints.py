"""The DMarket endpoints the sandbox serves, and the rate-limit family each one counts against."""

from __future__ import annotations

from enum import StrEnum

MARKET_ITEMS_PATH = "/exchange/v1/market/items"
AGGREGATED_PRICES_PATH = "/marketplace-api/v1/aggregated-prices"
LAST_SALES_PATH = "/trade-aggregator/v1/last-sales"


class Endpoint(StrEnum):
    MARKET_ITEMS = "market_items"
    AGGREGATED_PRICES = "aggregated_prices"
    LAST_SALES = "last_sales"


class Family(StrEnum):
    """Rate-limit families of DMarket's support article "What are the rate limits for requests"."""

    MARKET_ITEMS = "market_items"
    LAST_SALES = "last_sales"
    OTHER = "other"  # "other methods (cumulative)"


ENDPOINT_PATHS: dict[Endpoint, str] = {
    Endpoint.MARKET_ITEMS: MARKET_ITEMS_PATH,
    Endpoint.AGGREGATED_PRICES: AGGREGATED_PRICES_PATH,
    Endpoint.LAST_SALES: LAST_SALES_PATH,
}


def family_of(endpoint: Endpoint, *, signed: bool) -> Family:
    """The family a request counts against.

    The article lists no keyless limit for last sales, only "other methods (cumulative)", so keyless
    last-sales requests count against the keyless ``other`` budget.
    """
    if endpoint is Endpoint.MARKET_ITEMS:
        return Family.MARKET_ITEMS
    if endpoint is Endpoint.LAST_SALES and signed:
        return Family.LAST_SALES
    return Family.OTHER
