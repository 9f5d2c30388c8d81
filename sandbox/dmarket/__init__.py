"""DMarket trading API sandbox: ``python -m sandbox.dmarket`` (see docs/sandbox-dmarket.md)."""

from sandbox.dmarket.app import MARKET_ITEMS_PATH, build_app
from sandbox.dmarket.client import DMarketSandboxClient
from sandbox.dmarket.listing import ListingQuery, OrderBy, OrderDir, select_listing
from sandbox.dmarket.market import CS2, DOTA2, GAME_IDS, RUST, TF2, Item, Market, generate_market
from sandbox.dmarket.signing import (
    DEMO_PUBLIC_KEY_HEX,
    DEMO_SECRET_KEY_HEX,
    AuthFailure,
    sign_request,
)
from sandbox.dmarket.state import SandboxSettings

__all__ = [
    "CS2",
    "DEMO_PUBLIC_KEY_HEX",
    "DEMO_SECRET_KEY_HEX",
    "DOTA2",
    "GAME_IDS",
    "MARKET_ITEMS_PATH",
    "RUST",
    "TF2",
    "AuthFailure",
    "DMarketSandboxClient",
    "Item",
    "ListingQuery",
    "Market",
    "OrderBy",
    "OrderDir",
    "SandboxSettings",
    "build_app",
    "generate_market",
    "select_listing",
    "sign_request",
]
