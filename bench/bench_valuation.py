"""Valuation benchmark: ``python -m bench.bench_valuation``.

On the DMarket sandbox's 20,000-listing market with DMarket's limits per endpoint family (market items 10/s,
last sales 6/s, other methods 20/s), valued pro-band scans by 1 and by 4 worker processes sharing the budgets
through Redis: per-endpoint request rate against its budget and 429s (sandbox request log); wall time of a
scan with valuation and without; fake deals (true resale after fee below the price, from the sandbox's truth)
reported by the suggestedPrice method and by the valuation; an interactive scan's wall time alone and while
three background sweeps run.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from typing import Any

import redis

from common.markets import GAME_IDS
from sandbox.dmarket import DEMO_PUBLIC_KEY_HEX, DEMO_SECRET_KEY_HEX, SandboxSettings, build_app, build_market_model
from sandbox.dmarket.client import DMarketSandboxClient
from sandbox.server import running
from tests.support.settings import make_settings
from worker.arbitrage.engine import net_proceeds_cents
from worker.arbitrage.workflow import Valuation, rules_for, scan_market
from worker.resources import Resources, rate_limit_key

ITEMS_PER_GAME = 20_000
LEVEL = "pro"
MAX_PAGES = 200
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14"
BUDGETS = {"market_items": 10.0, "last_sales": 6.0, "aggregated_prices": 20.0}
SETTINGS = make_settings()
FEE_BP = SETTINGS.arbitrage_fee_bp("csgo")


def scan_in_process(args: tuple[str, str, str, bool]) -> dict[str, Any]:
    """One worker process: its own Resources, the key's shared budgets; one scan of one game's band."""
    base_url, game, method, background = args
    settings = make_settings(
        redis_url=REDIS_URL,
        database_url="sqlite:///:memory:",
        dmarket_api_url=base_url,
        dmarket_public_key=DEMO_PUBLIC_KEY_HEX,
        dmarket_secret_key=DEMO_SECRET_KEY_HEX,
    )
    resources = Resources(settings)
    started = time.monotonic()
    try:
        valuation = Valuation.of(resources, LEVEL, background=background) if method == "valuation" else None
        result = scan_market(
            resources.dmarket(),
            GAME_IDS[game],
            rules_for(settings, game, LEVEL),
            MAX_PAGES,
            valuation=valuation,
            background=background,
        )
    finally:
        resources.close()
    return {
        "game": game,
        "wall_s": time.monotonic() - started,
        "found": [(o.item_id, o.title, o.price_cents) for o in result.opportunities],
        "requests": dict(result.stats.by_family),
        "rate_limited": result.stats.rate_limited,
        "valued_titles": result.valued_titles,
    }


def reset(control: DMarketSandboxClient) -> None:
    control.reset()
    connection = redis.Redis.from_url(REDIS_URL)
    key = rate_limit_key(DEMO_PUBLIC_KEY_HEX)
    connection.delete(key, *connection.scan_iter(f"{key}:*"), *connection.scan_iter("arbitrage:valuation:*"))
    connection.close()


def run(base_url: str, jobs: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(jobs)) as pool:
        return pool.map(scan_in_process, [(base_url, g, m, b) for g, m, b in jobs])


def endpoint_rates(control: DMarketSandboxClient) -> dict[str, dict[str, Any]]:
    """Per endpoint: requests, 429s, and the rate over its busy span (first to last request)."""
    rows: dict[str, dict[str, Any]] = {}
    log = control.requests()
    for endpoint in BUDGETS:
        times = sorted(r["time"] for r in log if r["endpoint"] == endpoint)
        throttled = sum(1 for r in log if r["endpoint"] == endpoint and r["status"] == 429)
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 and times[-1] > times[0] else None
        rows[endpoint] = {"requests": len(times), "throttled": throttled, "rate": rate}
    peaks = control.stats().get("by_endpoint", {})
    for endpoint, row in rows.items():
        row["peak"] = peaks.get(endpoint, {}).get("peak_served_per_second")
    return rows


def main() -> int:
    sandbox_settings = SandboxSettings(items_per_game=ITEMS_PER_GAME, sales_anchor=int(time.time()))
    model = build_market_model(sandbox_settings.seed, ITEMS_PER_GAME)
    games = ["csgo", "dota2", "tf2", "rust"]
    print(f"DMarket sandbox: {ITEMS_PER_GAME:,} listings per game, DMarket's per-family limits…", file=sys.stderr)
    with running(build_app(sandbox_settings)) as server, DMarketSandboxClient(server.url, timeout_s=60) as control:
        table = []
        for jobs in ([("csgo", "valuation", False)], [(g, "valuation", False) for g in games]):
            reset(control)
            started = time.monotonic()
            results = run(server.url, jobs)
            table.append((len(jobs), time.monotonic() - started, endpoint_rates(control), results))
        reset(control)
        [plain] = run(server.url, [("csgo", "suggested", False)])
        suggested = []
        for game in games:
            reset(control)
            suggested += [(game, *f) for f in run(server.url, [(game, "suggested", False)])[0]["found"]]
        reset(control)
        [alone] = run(server.url, [("tf2", "valuation", False)])
        reset(control)
        crowded = run(
            server.url, [("tf2", "valuation", False), *((g, "valuation", True) for g in ("csgo", "dota2", "rust"))]
        )

    def fakes(found: list[tuple[str, str, str, int]]) -> int:
        return sum(
            1
            for game, _, title, price in found
            if net_proceeds_cents(model.truth[GAME_IDS[game]][title].true_value_cents, FEE_BP) < price
        )

    valued = [(r["game"], *f) for r in table[1][3] for f in r["found"]]
    print(f"\nValued scans, level {LEVEL}, budgets shared through Redis\n")
    print("| processes | endpoint | requests | 429s | busy-span req/s | budget | fraction | peak/s | wall s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ok = True
    for processes, wall_s, rates, _ in table:
        for endpoint, row in rates.items():
            rate = row["rate"]
            fraction = rate / BUDGETS[endpoint] if rate is not None else None
            shown = f"{rate:.2f}" if rate is not None else "n/a"
            frac = f"{fraction:.3f}" if fraction is not None else "n/a"
            print(
                f"| {processes} | {endpoint} | {row['requests']} | {row['throttled']} | {shown} | "
                f"{BUDGETS[endpoint]:g} | {frac} | {row['peak']} | {wall_s:.1f} |"
            )
            ok = ok and row["throttled"] == 0
    one = table[0][3][0]
    print(f"\nPro-band scan of csgo, 1 process: {plain['wall_s']:.1f} s without valuation, {one['wall_s']:.1f} s with")
    print(f"  ({one['valued_titles']} titles valued, requests {one['requests']})")
    print(
        f"\nFake deals over the four pro bands: suggestedPrice {fakes(suggested)} of {len(suggested)} reported, "
        f"valuation {fakes(valued)} of {len(valued)}"
    )
    interactive = next(r for r in crowded if r["game"] == "tf2")
    print(
        f"\nInteractive tf2/pro scan: {alone['wall_s']:.1f} s alone, {interactive['wall_s']:.1f} s "
        "beside three background sweeps (csgo, dota2, rust)"
    )
    ok = ok and fakes(valued) == 0
    print(f"\ngoals (0 × 429, no fake deal from the valuation): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
