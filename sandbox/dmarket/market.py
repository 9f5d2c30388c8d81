"""A deterministic, generated DMarket market: the data the sandbox serves and tests assert against.

Pure: no I/O, no clock. ``generate_market(seed, n)`` always returns the same listings, so a test can
compute exactly which offers a scan should find. Money is integer USD cents throughout.

Shape of the generated market, per game:

* a catalogue of distinct titles built combinatorially from small word lists, each with a suggested
  price drawn log-uniformly from $0.03 to $2,000 (so every arbitrage level range has plenty of items);
* ``items_per_game`` listings (offers) of those titles: one title can be listed several times, as on
  the real market, and all listings of a title share its suggested price;
* most listings sit at or above the suggested price, about 7% are 10-40% under it (the deals an
  arbitrage scan looks for), and about 3% of titles have no suggested price at all.

``generate_catalogue(seed, n)`` returns the catalogue itself (listed or not), drawn from the same random
stream before the listings. What each title is really worth lives in ``truth.py``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

CS2 = "a8db"
DOTA2 = "9a92"
TF2 = "tf2"
RUST = "rust"
GAME_IDS: tuple[str, ...] = (CS2, DOTA2, TF2, RUST)

MIN_SUGGESTED_CENTS = 3  # $0.03
MAX_SUGGESTED_CENTS = 200_000  # $2,000
MIN_PRICE_CENTS = 3  # DMarket does not list below a few cents
UNDERPRICED_SHARE_PERCENT = 7
NO_SUGGESTED_PRICE_SHARE_PERCENT = 3
# Listing price as basis points of the suggested price.
UNDERPRICED_BP = (6_000, 9_000)  # 10-40% under
ORDINARY_BP = (9_800, 13_000)  # near or above
# Listings were created during the 30 days before this fixed instant (2025-01-01T00:00:00Z), not
# before "now": the market must not depend on the clock.
CREATED_BEFORE = 1_735_689_600
CREATED_WITHIN_S = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Item:
    """One offer on the market. Prices are integer USD cents."""

    item_id: str
    game_id: str
    title: str
    class_id: str
    price_cents: int
    suggested_price_cents: int | None  # None: DMarket has no suggested price for this title
    category: str
    category_path: str
    quality: str
    exterior: str | None  # CS2 wear; None for games without one
    created_at: int  # unix seconds

    @property
    def discount_percent(self) -> int:
        """Whole percent the price is under the suggested price (0 when at/above it or unknown)."""
        suggested = self.suggested_price_cents
        if suggested is None or self.price_cents >= suggested:
            return 0
        return (suggested - self.price_cents) * 100 // suggested


Market = Mapping[str, tuple[Item, ...]]


@dataclass(frozen=True, slots=True)
class _Title:
    """A catalogue entry before it gets a price: what the listings of one title share."""

    title: str
    category: str
    category_path: str
    quality: str
    exterior: str | None = None


# --- CS2 ---------------------------------------------------------------------------------------------
_CS2_WEAPONS = {
    "AK-47": "Rifle",
    "M4A4": "Rifle",
    "M4A1-S": "Rifle",
    "FAMAS": "Rifle",
    "Galil AR": "Rifle",
    "AWP": "Sniper Rifle",
    "SSG 08": "Sniper Rifle",
    "Desert Eagle": "Pistol",
    "Glock-18": "Pistol",
    "USP-S": "Pistol",
    "P250": "Pistol",
    "Five-SeveN": "Pistol",
    "Tec-9": "Pistol",
    "CZ75-Auto": "Pistol",
    "MP9": "SMG",
    "MAC-10": "SMG",
    "P90": "SMG",
    "UMP-45": "SMG",
    "Nova": "Shotgun",
    "XM1014": "Shotgun",
}
_CS2_SKINS = (
    "Redline", "Asiimov", "Vulcan", "Hyper Beast", "Neo-Noir", "Fade", "Printstream", "Bloodsport",
    "Fire Serpent", "Case Hardened", "Slate", "Phantom Disruptor", "Safari Mesh", "Boreal Forest",
    "Urban Masked", "Night Riot", "Cyrex", "Atheris", "Dragonfly", "Neon Rider", "The Empress",
    "Wasteland Rebel", "Ice Coaled", "Nightwish", "Head Shot",
)  # fmt: skip
_CS2_EXTERIORS = ("Factory New", "Minimal Wear", "Field-Tested", "Well-Worn", "Battle-Scarred")
_STATTRAK = "StatTrak™"


def _cs2_titles() -> list[_Title]:
    titles = []
    for (weapon, category), skin, exterior, stattrak in itertools.product(
        _CS2_WEAPONS.items(), _CS2_SKINS, _CS2_EXTERIORS, (False, True)
    ):
        prefix = f"{_STATTRAK} " if stattrak else ""
        titles.append(
            _Title(
                title=f"{prefix}{weapon} | {skin} ({exterior})",
                category=category.lower(),
                category_path=f"weapon/{category.lower().replace(' ', '-')}",
                quality=_STATTRAK if stattrak else "Normal",
                exterior=exterior.lower().replace(" ", "-"),
            )
        )
    return titles


# --- Dota 2 ------------------------------------------------------------------------------------------
_DOTA2_QUALITIES = ("Standard", "Inscribed", "Genuine", "Autographed", "Corrupted", "Exalted")
_DOTA2_SLOTS = (
    "Blade", "Mantle", "Helm", "Shoulders", "Bracers", "Belt", "Cape", "Mask", "Armor", "Gauntlets",
    "Boots", "Wings", "Staff", "Hook", "Crown",
)  # fmt: skip
_DOTA2_THEMES = (
    "the Cinder Baron", "the Frozen Wyrm", "the Eternal Tide", "the Crimson Witness", "the Iron Hog",
    "the Dragonclaw", "the Fractal Abyss", "the Bladeform Legacy", "the Golden Basher",
    "the Stormcrafter", "the Ember Guard", "the Shattered Sky", "the Sanguine Moon", "the Bloodfeather",
    "the Silent Wake", "the Feral Pack", "the Burning Veil", "the Aspect of Ruin", "the Wild Hunt",
    "the Arcane Sovereign",
)  # fmt: skip


def _dota2_titles() -> list[_Title]:
    return [
        _Title(
            title=f"{'' if quality == 'Standard' else quality + ' '}{slot} of {theme}",
            category="wearable",
            category_path=f"wearable/{slot.lower()}",
            quality=quality,
        )
        for quality, slot, theme in itertools.product(_DOTA2_QUALITIES, _DOTA2_SLOTS, _DOTA2_THEMES)
    ]


# --- TF2 ---------------------------------------------------------------------------------------------
_TF2_HATS = (
    "Team Captain", "Towering Pillar of Hats", "Bill's Hat", "Professor Speks", "Brigade Helm",
    "Modest Pile of Hat", "Noble Amassment of Hats", "Stout Shako", "Cheater's Lament", "Hotrod",
    "Anger", "Planeswalker Helm", "Fancy Fedora", "Bounty Hat", "Tam O'Shanter", "Pyro's Beanie",
    "Sober Stuntman", "Officer's Ushanka", "Tough Guy's Toque", "Private Eye", "Prussian Pickelhaube",
    "Hat of Undeniable Wealth and Respect", "Ellis' Cap", "Merc's Pride Scarf", "Vintage Tyrolean",
)  # fmt: skip
_TF2_HAT_QUALITIES = ("Unique", "Strange", "Vintage", "Genuine", "Collector's")
_TF2_UNUSUAL_EFFECTS = (
    "Burning Flames", "Scorching Flames", "Sunbeams", "Green Confetti", "Purple Energy", "Cloud 9",
    "Stormy Storm", "Massed Flies", "Nuts n' Bolts", "Orbiting Fire", "Smoking", "Steaming",
    "Haunted Ghosts", "Circling Heart", "Vivid Plasma", "Hearts",
)  # fmt: skip
_TF2_WEAPONS = (
    "Rocket Launcher", "Scattergun", "Minigun", "Flame Thrower", "Sniper Rifle", "Medi Gun",
    "Knife", "Wrench", "Grenade Launcher", "Stickybomb Launcher", "Shotgun", "Revolver",
    "Black Box", "Ubersaw", "Force-A-Nature",
)  # fmt: skip
_TF2_KILLSTREAKS = ("", "Killstreak ", "Specialized Killstreak ", "Professional Killstreak ")
_TF2_WEAPON_QUALITIES = ("Unique", "Strange", "Festive")


def _tf2_titles() -> list[_Title]:
    hats = [
        _Title(f"{'' if q == 'Unique' else q + ' '}{hat}", "cosmetic", "cosmetic/hat", q)
        for q, hat in itertools.product(_TF2_HAT_QUALITIES, _TF2_HATS)
    ]
    unusuals = [
        _Title(f"Unusual {effect} {hat}", "cosmetic", "cosmetic/hat", "Unusual")
        for effect, hat in itertools.product(_TF2_UNUSUAL_EFFECTS, _TF2_HATS)
    ]
    weapons = [
        _Title(f"{'' if q == 'Unique' else q + ' '}{ks}{weapon}", "weapon", "weapon/primary", q)
        for q, ks, weapon in itertools.product(_TF2_WEAPON_QUALITIES, _TF2_KILLSTREAKS, _TF2_WEAPONS)
    ]
    return hats + unusuals + weapons


# --- Rust --------------------------------------------------------------------------------------------
_RUST_ITEMS = {
    "AK47": "weapon", "Thompson": "weapon", "MP5A4": "weapon", "LR-300": "weapon",
    "Bolt Action Rifle": "weapon", "Semi-Automatic Rifle": "weapon", "Python Revolver": "weapon",
    "Hatchet": "tool", "Pickaxe": "tool", "Rock": "tool",
    "Hoodie": "clothing", "Pants": "clothing", "Boots": "clothing", "Roadsign Jacket": "clothing",
    "Metal Facemask": "armor", "Metal Chest Plate": "armor",
    "Sheet Metal Door": "deployable", "Garage Door": "deployable", "Large Wood Box": "deployable",
    "Sleeping Bag": "deployable",
}  # fmt: skip
_RUST_THEMES = (
    "Tempered", "Glory", "Alien Red", "Whiteout", "Neon", "Big Grin", "Playmaker", "No Mercy",
    "Punishment", "Doodle", "Carbon", "Victoria", "Cold Hunter", "Jungle", "Creepy", "Retro",
    "Blackout", "Nightmare", "Toxic", "Azul",
)  # fmt: skip


def _rust_titles() -> list[_Title]:
    return [
        _Title(f"{theme} {item}", category, f"{category}/{item.lower().replace(' ', '-')}", "Standard")
        for (item, category), theme in itertools.product(_RUST_ITEMS.items(), _RUST_THEMES)
    ]


_TITLE_POOLS: dict[str, Callable[[], list[_Title]]] = {
    CS2: _cs2_titles,
    DOTA2: _dota2_titles,
    TF2: _tf2_titles,
    RUST: _rust_titles,
}


# --- generation --------------------------------------------------------------------------------------
def _log_uniform_cents(rng: random.Random, low: int, high: int) -> int:
    # Log-uniform so that each price decade ($0.10-1, $1-10, ...) gets a similar share of items.
    return min(high, max(low, round(math.exp(rng.uniform(math.log(low), math.log(high))))))


def _percent_roll(rng: random.Random, share_percent: int) -> bool:
    return rng.randrange(100) < share_percent


def _listing_price(rng: random.Random, suggested: int | None) -> int:
    if suggested is None:
        return _log_uniform_cents(rng, MIN_SUGGESTED_CENTS, MAX_SUGGESTED_CENTS)
    low_bp, high_bp = UNDERPRICED_BP if _percent_roll(rng, UNDERPRICED_SHARE_PERCENT) else ORDINARY_BP
    return max(MIN_PRICE_CENTS, suggested * rng.randint(low_bp, high_bp) // 10_000)


_UUID_VARIANT_CLEAR = ~(0xC000 << 48)
_UUID_VARIANT_RFC4122 = 0x8000 << 48
_UUID_VERSION_CLEAR = ~(0xF000 << 64)
_UUID_VERSION_4 = 4 << 76


def _uuid(rng: random.Random) -> str:
    # Exactly str(uuid.UUID(int=rng.getrandbits(128), version=4)), without building a UUID object:
    # the large market makes 80,000 of these at start-up.
    bits = rng.getrandbits(128) & _UUID_VARIANT_CLEAR | _UUID_VARIANT_RFC4122
    digits = f"{bits & _UUID_VERSION_CLEAR | _UUID_VERSION_4:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """A distinct title of one game, listed or not: what every listing of the title shares."""

    game_id: str
    title: str
    class_id: str
    suggested_price_cents: int | None  # None: DMarket has no suggested price for this title
    category: str
    category_path: str
    quality: str
    exterior: str | None


Catalogue = Mapping[str, Mapping[str, CatalogueEntry]]  # game id -> title -> entry


def _game_rng(seed: int, game_id: str) -> random.Random:
    # A string seed is hashed (SHA-512) by random.Random, so it is stable across runs and platforms.
    return random.Random(f"sandbox.dmarket:{seed}:{game_id}")


def _draw_catalogue(rng: random.Random, game_id: str, items_per_game: int) -> list[CatalogueEntry]:
    pool = _TITLE_POOLS[game_id]()
    # Fewer titles than listings, so popular titles are listed several times, as on the real market.
    chosen = rng.sample(pool, k=min(len(pool), max(1, items_per_game * 3 // 5)))
    suggested = [
        None
        if _percent_roll(rng, NO_SUGGESTED_PRICE_SHARE_PERCENT)
        else _log_uniform_cents(rng, MIN_SUGGESTED_CENTS, MAX_SUGGESTED_CENTS)
        for _ in chosen
    ]
    class_ids = [f"{game_id}:{rng.getrandbits(40):x}" for _ in chosen]
    return [
        CatalogueEntry(
            game_id=game_id,
            title=entry.title,
            class_id=class_id,
            suggested_price_cents=suggested_cents,
            category=entry.category,
            category_path=entry.category_path,
            quality=entry.quality,
            exterior=entry.exterior,
        )
        for entry, suggested_cents, class_id in zip(chosen, suggested, class_ids, strict=True)
    ]


def _generate_game(seed: int, game_id: str, items_per_game: int) -> tuple[Item, ...]:
    rng = _game_rng(seed, game_id)
    catalogue = _draw_catalogue(rng, game_id, items_per_game)
    items = []
    for _ in range(items_per_game):
        entry = rng.choice(catalogue)
        items.append(
            Item(
                item_id=_uuid(rng),
                game_id=game_id,
                title=entry.title,
                class_id=entry.class_id,
                price_cents=_listing_price(rng, entry.suggested_price_cents),
                suggested_price_cents=entry.suggested_price_cents,
                category=entry.category,
                category_path=entry.category_path,
                quality=entry.quality,
                exterior=entry.exterior,
                created_at=CREATED_BEFORE - rng.randrange(CREATED_WITHIN_S),
            )
        )
    return tuple(items)


def generate_catalogue(seed: int, items_per_game: int) -> dict[str, dict[str, CatalogueEntry]]:
    """Every game's catalogue of titles (listed or not), as ``generate_market`` draws it."""
    if items_per_game < 0:
        raise ValueError(f"items_per_game must be >= 0, got {items_per_game}")
    return {
        game_id: {entry.title: entry for entry in _draw_catalogue(_game_rng(seed, game_id), game_id, items_per_game)}
        for game_id in GAME_IDS
    }


def generate_market(seed: int, items_per_game: int) -> dict[str, tuple[Item, ...]]:
    """Every game's listings, fully determined by ``seed`` and ``items_per_game``."""
    if items_per_game < 0:
        raise ValueError(f"items_per_game must be >= 0, got {items_per_game}")
    return {game_id: _generate_game(seed, game_id, items_per_game) for game_id in GAME_IDS}
