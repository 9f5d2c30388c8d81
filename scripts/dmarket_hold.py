"""See, and lift, a hold DMarket put on our API key (a 429 with a long Retry-After): docs/reliability.md.

    python scripts/dmarket_hold.py            # what is held, why, and for how much longer
    python scripts/dmarket_hold.py --json     # the same for machines
    python scripts/dmarket_hold.py --lift     # lift every hold: scans ask DMarket again at once

While DMarket holds the key, every scan fails at once with the real wait (users are told it, operators get an
`api` error). Lift it only when you know DMarket no longer refuses (support said so, the key was replaced):
a lifted hold that DMarket still means costs one more 429, which sets it again.

Exit codes: 0 nothing held (or lifted), 1 a hold is in force, 2 usage or configuration errors, 3 Redis down.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python scripts/dmarket_hold.py`: the project root is not on sys.path yet.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
from collections.abc import Sequence

import redis

from common.settings import load_settings_or_exit
from scripts.cli import guarded
from worker.ratelimit import SharedRateLimiter
from worker.resources import RATE_LIMIT_PREFIX

EXIT_OK, EXIT_HELD, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmarket_hold",
        description="Show (default) or lift the hold DMarket put on the API key with a long Retry-After.",
    )
    parser.add_argument("--lift", action="store_true", help="lift every hold now (scans call DMarket again)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings_or_exit()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        limiter = SharedRateLimiter(client)
        holds = limiter.holds(RATE_LIMIT_PREFIX)
        lifted = [hold.lane_key for hold in holds if args.lift and limiter.lift(hold.lane_key)]
    except redis.RedisError as exc:
        print(
            f"dmarket_hold: Redis at REDIS_URL did not answer ({type(exc).__name__}); nothing changed", file=sys.stderr
        )
        return EXIT_USAGE
    finally:
        client.close()
    if args.json:
        rows = [{"lane": h.lane_key, "reason": h.reason, "remaining_s": round(h.remaining_s, 1)} for h in holds]
        print(json.dumps({"holds": rows, "lifted": lifted}))
    elif not holds:
        print("No hold: DMarket has not asked us to stay away.")
    for hold in holds if not args.json else ():
        state = "lifted" if hold.lane_key in lifted else f"{hold.remaining_s / 60:.1f} min left"
        print(f"{hold.lane_key}: {hold.reason} ({state})")
    return EXIT_HELD if holds and not args.lift else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Never a traceback for the operator: every failure becomes a sentence and an exit code."""
    return guarded("dmarket_hold", run, argv)


if __name__ == "__main__":
    sys.exit(main())
