"""Games and arbitrage levels: the names users type, shared by the bot, the settings and the worker.

Pure data. Money is integer USD cents; percentages are basis points (100 bp = 1 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

# DMarket's gameId for each game a user can name. "cs2" is an alias: CS2 replaced CS:GO under the same id.
GAME_IDS: MappingProxyType[str, str] = MappingProxyType({"csgo": "a8db", "dota2": "9a92", "tf2": "tf2", "rust": "rust"})
GAME_ALIASES: MappingProxyType[str, str] = MappingProxyType({"cs2": "csgo"})
DEFAULT_GAME = "csgo"
DEFAULT_LEVEL = "standard"


@dataclass(frozen=True, slots=True)
class Level:
    """A price band [min_price_cents, max_price_cents) and the least profit worth reporting in it."""

    name: str
    min_price_cents: int
    max_price_cents: int  # exclusive, so adjacent levels never share an item
    min_profit_bp: int  # profit as a share of the buy price

    def __post_init__(self) -> None:
        if not 0 < self.min_price_cents < self.max_price_cents:
            raise ValueError(
                f"level {self.name}: need 0 < min_price_cents < max_price_cents, "
                f"got {self.min_price_cents}..{self.max_price_cents}"
            )
        if self.min_profit_bp < 0:
            raise ValueError(f"level {self.name}: min_profit_bp must be >= 0, got {self.min_profit_bp}")

    def contains(self, price_cents: int) -> bool:
        return self.min_price_cents <= price_cents < self.max_price_cents


# Minimum profit falls as the price rises: on a $1 item a 5 % edge is 5 cents, eaten by one tick of price
# movement, while on a $500 item 3 % is $15 of real margin. See docs/arbitrage.md for the reasoning.
LEVELS: MappingProxyType[str, Level] = MappingProxyType(
    {
        "boost": Level("boost", 50, 300, min_profit_bp=1_000),
        "standard": Level("standard", 300, 1_000, min_profit_bp=700),
        "medium": Level("medium", 1_000, 3_000, min_profit_bp=500),
        "advanced": Level("advanced", 3_000, 10_000, min_profit_bp=400),
        "pro": Level("pro", 10_000, 100_000, min_profit_bp=300),
    }
)


def canonical_game(name: str) -> str | None:
    """The canonical game name for what a user or operator typed (case-insensitive), or None."""
    key = name.strip().lower()
    key = GAME_ALIASES.get(key, key)
    return key if key in GAME_IDS else None


def game_names() -> list[str]:
    """Every accepted game name, aliases included, for usage messages."""
    return [*GAME_IDS, *GAME_ALIASES]


@dataclass(frozen=True, slots=True)
class SalesRule:
    """How a level values a listing flip from recent sales (docs/arbitrage.md, "Valuation").

    The estimate is the median of the newest ``sales_count`` sales within ``window_days``; a title with fewer
    than ``min_sales`` sales in the window is not reported (too illiquid to trust, or to resell soon).
    """

    min_sales: int  # K
    sales_count: int  # N, at most 20 (one last-sales call)
    window_days: int  # D

    def __post_init__(self) -> None:
        if not 1 <= self.sales_count <= 20:
            raise ValueError(f"sales_count must be 1..20 (one last-sales call), got {self.sales_count}")
        if not 1 <= self.min_sales <= self.sales_count:
            raise ValueError(f"min_sales must be 1..sales_count ({self.sales_count}), got {self.min_sales}")
        if not 1 <= self.window_days <= 365:
            raise ValueError(f"window_days must be 1..365, got {self.window_days}")


# Cheap items must turn over fast (a week, many sales): their margin is cents and capital waits in them;
# dear items may take a month, but a median of fewer than 5 sales is one lucky sale away from a lie.
SALES_RULES: MappingProxyType[str, SalesRule] = MappingProxyType(
    {
        "boost": SalesRule(min_sales=10, sales_count=20, window_days=7),
        "standard": SalesRule(min_sales=8, sales_count=20, window_days=7),
        "medium": SalesRule(min_sales=6, sales_count=20, window_days=14),
        "advanced": SalesRule(min_sales=5, sales_count=20, window_days=30),
        "pro": SalesRule(min_sales=5, sales_count=20, window_days=30),
    }
)
