"""``python -m sandbox.dmarket``: serve the DMarket sandbox in the foreground."""

from __future__ import annotations

import argparse
import logging
import sys

from starlette.types import ASGIApp

from sandbox.dmarket.app import build_app
from sandbox.dmarket.signing import DEMO_PUBLIC_KEY_HEX, DEMO_SECRET_KEY_HEX, normalize_public_key
from sandbox.dmarket.state import (
    DEFAULT_ITEMS_PER_GAME,
    DEFAULT_KEYLESS_OTHER_RATE_LIMIT_RPS,
    DEFAULT_KEYLESS_RATE_LIMIT_RPS,
    DEFAULT_LAST_SALES_RATE_LIMIT_RPS,
    DEFAULT_MAX_CLOCK_SKEW_S,
    DEFAULT_OTHER_RATE_LIMIT_RPS,
    DEFAULT_RATE_LIMIT_RPS,
    DEFAULT_SEED,
    LARGE_ITEMS_PER_GAME,
    SandboxSettings,
)
from sandbox.server import cli_main

DEFAULT_PORT = 8995
log = logging.getLogger("sandbox.dmarket")


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {number}")
    return number


def _public_key(value: str) -> str:
    try:
        return normalize_public_key(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="market generator seed (default: %(default)s)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--items-per-game",
        type=_non_negative_int,
        default=DEFAULT_ITEMS_PER_GAME,
        help="listings generated per game (default: %(default)s)",
    )
    size.add_argument(
        "--large-market",
        dest="items_per_game",
        action="store_const",
        const=LARGE_ITEMS_PER_GAME,
        help=f"the benchmark market: {LARGE_ITEMS_PER_GAME} listings per game",
    )
    limits = [
        ("--rate-limit-rps", DEFAULT_RATE_LIMIT_RPS, "market-items requests/second per API key"),
        (
            "--keyless-rate-limit-rps",
            DEFAULT_KEYLESS_RATE_LIMIT_RPS,
            "market-items requests/second per address, keyless",
        ),
        ("--last-sales-rate-limit-rps", DEFAULT_LAST_SALES_RATE_LIMIT_RPS, "last-sales requests/second per API key"),
        ("--other-rate-limit-rps", DEFAULT_OTHER_RATE_LIMIT_RPS, "other methods (aggregated prices) per API key"),
        (
            "--keyless-other-rate-limit-rps",
            DEFAULT_KEYLESS_OTHER_RATE_LIMIT_RPS,
            "other methods (and last sales) per address, keyless",
        ),
    ]
    for flag, default, meaning in limits:
        parser.add_argument(
            flag, type=_non_negative_int, default=default, help=f"{meaning}; 0 = off (default: %(default)s, DMarket's)"
        )
    parser.add_argument(
        "--sales-anchor",
        type=_non_negative_int,
        default=None,
        help="unix seconds that sale dates count back from (default: when the server starts)",
    )
    parser.add_argument(
        "--public-key",
        dest="public_keys",
        action="append",
        type=_public_key,
        metavar="HEX",
        help="accepted API public key (64 hex chars); repeatable (default: the sandbox-only demo key)",
    )
    parser.add_argument(
        "--max-clock-skew-s",
        type=_non_negative_int,
        default=DEFAULT_MAX_CLOCK_SKEW_S,
        help="how far X-Sign-Date may be from the server clock, in seconds (default: %(default)s)",
    )


def _build(args: argparse.Namespace) -> ASGIApp:
    public_keys = tuple(args.public_keys or (DEMO_PUBLIC_KEY_HEX,))
    if DEMO_PUBLIC_KEY_HEX in public_keys:
        log.info(
            "accepting the SANDBOX-ONLY demo key: public %s secret %s",
            DEMO_PUBLIC_KEY_HEX,
            DEMO_SECRET_KEY_HEX,
        )
    return build_app(
        SandboxSettings(
            seed=args.seed,
            items_per_game=args.items_per_game,
            rate_limit_rps=args.rate_limit_rps,
            keyless_rate_limit_rps=args.keyless_rate_limit_rps,
            last_sales_rate_limit_rps=args.last_sales_rate_limit_rps,
            other_rate_limit_rps=args.other_rate_limit_rps,
            keyless_other_rate_limit_rps=args.keyless_other_rate_limit_rps,
            sales_anchor=args.sales_anchor,
            public_keys=public_keys,
            max_clock_skew_s=args.max_clock_skew_s,
        )
    )


if __name__ == "__main__":
    sys.exit(cli_main("dmarket", DEFAULT_PORT, _build, add_arguments))
