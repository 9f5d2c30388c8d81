"""DMarket trading API sandbox: ``python -m sandbox.dmarket`` (see docs/sandbox-dmarket.md)."""

from sandbox.dmarket.app import build_app
from sandbox.dmarket.client import DMarketSandboxClient
from sandbox.dmarket.endpoints import (
    AGGREGATED_PRICES_PATH,
    LAST_SALES_PATH,
    MARKET_ITEMS_PATH,
    Endpoint,
    Family,
)
from sandbox.dmarket.faults import HOSTILE_KINDS, HostileKind
from sandbox.dmarket.listing import ListingQuery, OrderBy, OrderDir, select_listing
from sandbox.dmarket.market import (
    CS2,
    DOTA2,
    GAME_IDS,
    RUST,
    TF2,
    Catalogue,
    CatalogueEntry,
    Item,
    Market,
    generate_catalogue,
    generate_market,
)
from sandbox.dmarket.signing import (
    DEMO_PUBLIC_KEY_HEX,
    DEMO_SECRET_KEY_HEX,
    AuthFailure,
    sign_request,
)
from sandbox.dmarket.state import LARGE_ITEMS_PER_GAME, SandboxSettings
from sandbox.dmarket.truth import (
    AggregatedPrice,
    Liquidity,
    MarketModel,
    OfferStats,
    Sale,
    TitleTruth,
    TxOperationType,
    build_market_model,
    select_sales,
    title_sales,
    title_truth,
)

__all__ = [
    "AGGREGATED_PRICES_PATH",
    "CS2",
    "DEMO_PUBLIC_KEY_HEX",
    "DEMO_SECRET_KEY_HEX",
    "DOTA2",
    "GAME_IDS",
    "HOSTILE_KINDS",
    "LARGE_ITEMS_PER_GAME",
    "LAST_SALES_PATH",
    "MARKET_ITEMS_PATH",
    "RUST",
    "TF2",
    "AggregatedPrice",
    "AuthFailure",
    "Catalogue",
    "CatalogueEntry",
    "DMarketSandboxClient",
    "Endpoint",
    "Family",
    "HostileKind",
    "Item",
    "Liquidity",
    "ListingQuery",
    "Market",
    "MarketModel",
    "OfferStats",
    "OrderBy",
    "OrderDir",
    "Sale",
    "SandboxSettings",
    "TitleTruth",
    "TxOperationType",
    "build_app",
    "build_market_model",
    "generate_catalogue",
    "generate_market",
    "select_listing",
    "select_sales",
    "sign_request",
    "title_sales",
    "title_truth",
]
