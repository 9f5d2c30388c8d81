"""Arbitrage scan benchmark: ``python -m bench.bench_scan``.

A multi-page scan of the DMarket sandbox (20,000 listings per game, the pro band: ~45 pages of 100) with
the sandbox enforcing R requests/s per API key, as DMarket does. Run by 1 and by 4 worker processes at
once, each with its own HTTP client and Redis connection, sharing one rate limit through Redis. Measured
over the sandbox's request log: the request rate achieved as a fraction of R (goal >= 0.95) and the 429s
received (goal 0). Then the engine's throughput in offers/s, against a naive Decimal implementation.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import redis

from common.markets import GAME_IDS, LEVELS
from sandbox.dmarket import DEMO_PUBLIC_KEY_HEX, DEMO_SECRET_KEY_HEX, SandboxSettings, build_app, generate_market
from sandbox.dmarket.client import DMarketSandboxClient
from sandbox.server import running
from tests.support.settings import make_settings
from worker.arbitrage import workflow
from worker.arbitrage.engine import Opportunity, Rules, find_opportunities
from worker.arbitrage.workflow import scan_market
from worker.dmarket.models import Offer
from worker.resources import Resources, rate_limit_key

RATE_PER_S = 10  # DMarket's market-items limit with API keys
ITEMS_PER_GAME = 20_000
LEVEL = "pro"
MAX_PAGES = 200
ENGINE_ROUNDS = 5
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14"


# The default fees and minimum profits, whatever the environment or a .env says.
SETTINGS = make_settings()


def rules_for(game: str) -> Rules:
    return workflow.rules_for(SETTINGS, game, LEVEL)


def scan_in_process(args: tuple[str, str]) -> dict[str, Any]:
    """One worker process: its own Resources (HTTP client, Redis connection), the key's shared limit; one game."""
    base_url, game = args
    settings = make_settings(
        redis_url=REDIS_URL,
        database_url="sqlite:///:memory:",  # a scan of the market alone stores nothing
        dmarket_api_url=base_url,
        dmarket_public_key=DEMO_PUBLIC_KEY_HEX,
        dmarket_secret_key=DEMO_SECRET_KEY_HEX,
        dmarket_rate_limit_rps=RATE_PER_S,
    )
    resources = Resources(settings)  # the production wiring: client, limiter and lane as a worker builds them
    try:
        result = scan_market(resources.dmarket(), GAME_IDS[game], rules_for(game), MAX_PAGES)
    finally:
        resources.close()
    return {
        "game": game,
        "pages": result.pages,
        "found": len(result.opportunities),
        "rate_limited": result.stats.rate_limited,
        "requests": result.stats.requests,
        "http_ms": 1000 * result.stats.http_s / max(1, result.stats.requests),
    }


def run_scenario(base_url: str, control: DMarketSandboxClient, games: list[str], market: Any) -> dict[str, Any]:
    control.reset()
    control.configure(rate_limit_rps=RATE_PER_S)
    # Every process shares the demo key's lane, as workers with one DMarket key do; each scenario starts afresh.
    limiter = redis.Redis.from_url(REDIS_URL)
    limiter_key = rate_limit_key(DEMO_PUBLIC_KEY_HEX)
    limiter.delete(limiter_key)
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as separate worker processes are
    started = time.monotonic()
    with context.Pool(len(games)) as pool:
        results = pool.map(scan_in_process, [(base_url, game) for game in games])
    wall_s = time.monotonic() - started
    limiter.delete(limiter_key)
    limiter.close()
    log = control.requests()
    arrivals = sorted(entry["time"] for entry in log)
    served = sum(1 for entry in log if entry["status"] == 200)
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    exact = all(r["found"] == len(expected_for(market, r["game"])) for r in results)
    return {
        "processes": len(games),
        "requests": len(log),
        "served": served,
        "throttled": sum(1 for entry in log if entry["status"] == 429),
        "rate": rate,
        "fraction": rate / RATE_PER_S,
        "peak": control.stats()["peak_served_per_second"],
        "wall_s": wall_s,
        "exact": exact,
        "http_ms": sum(r["http_ms"] for r in results) / len(results),
    }


def expected_for(market: Any, game: str) -> list[Opportunity]:
    offers = [Offer(i.item_id, i.title, i.price_cents, i.suggested_price_cents) for i in market[GAME_IDS[game]]]
    return find_opportunities(offers, rules_for(game))


def naive_opportunities(offers: list[Offer], fee_percent: Decimal, min_profit_percent: Decimal) -> list[Offer]:
    """What a straightforward implementation does: Decimal dollars, percentages, one sort."""
    level = LEVELS[LEVEL]
    found = []
    for offer in offers:
        if not offer.suggested_price_cents or not level.contains(offer.price_cents):
            continue
        price = Decimal(offer.price_cents) / 100
        proceeds = (Decimal(offer.suggested_price_cents) / 100 * (1 - fee_percent / 100)).quantize(
            Decimal("0.01"), rounding=ROUND_FLOOR
        )
        profit = proceeds - price
        if profit > 0 and profit / price * 100 >= min_profit_percent:
            found.append((profit, offer))
    return [offer for _, offer in sorted(found, key=lambda pair: pair[0], reverse=True)]


def engine_throughput(market: Any) -> tuple[float, float, int]:
    offers = [
        Offer(i.item_id, i.title, i.price_cents, i.suggested_price_cents) for items in market.values() for i in items
    ]
    rules = rules_for("csgo")
    started = time.perf_counter()
    for _ in range(ENGINE_ROUNDS):
        ours = find_opportunities(offers, rules)
    engine_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(ENGINE_ROUNDS):
        naive = naive_opportunities(offers, SETTINGS.arbitrage_fee_percent, Decimal(rules.min_profit_bp) / 100)
    naive_s = time.perf_counter() - started
    assert {o.item_id for o in ours} == {o.item_id for o in naive}, "the baseline must find the same offers"
    total = len(offers) * ENGINE_ROUNDS
    return total / engine_s, total / naive_s, len(offers)


def main() -> int:
    sandbox_settings = SandboxSettings(items_per_game=ITEMS_PER_GAME, rate_limit_rps=RATE_PER_S)
    market = generate_market(sandbox_settings.seed, sandbox_settings.items_per_game)
    print(f"DMarket sandbox: {ITEMS_PER_GAME:,} listings per game, {RATE_PER_S} requests/s…", file=sys.stderr)
    with running(build_app(sandbox_settings)) as server, DMarketSandboxClient(server.url, timeout_s=30) as control:
        rows = [
            run_scenario(server.url, control, ["csgo"], market),
            run_scenario(server.url, control, ["csgo", "dota2", "tf2", "rust"], market),
        ]
    ours, naive, offers = engine_throughput(market)

    print(f"\nArbitrage scans, level {LEVEL}, R = {RATE_PER_S} requests/s shared through Redis\n")
    print(
        "| processes | requests | 429s | achieved req/s | fraction of R | peak/s | mean response ms | wall s | exact |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |")
    for r in rows:
        print(
            f"| {r['processes']} | {r['requests']} | {r['throttled']} | {r['rate']:.2f} | {r['fraction']:.3f} "
            f"| {r['peak']} | {r['http_ms']:.0f} | {r['wall_s']:.1f} | {'yes' if r['exact'] else 'NO'} |"
        )
    print(f"\nEngine over {offers:,} offers × {ENGINE_ROUNDS}: {ours:,.0f} offers/s (integer cents, bp)")
    print(f"Naive Decimal baseline: {naive:,.0f} offers/s ({ours / naive:.1f}× slower than the engine)")
    ok = all(r["fraction"] >= 0.95 and r["throttled"] == 0 and r["exact"] for r in rows)
    print(f"\ngoals (fraction >= 0.95, 0 × 429, exact results): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
