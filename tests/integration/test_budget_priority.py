"""Interactive requests keep their budget while background sweeps crowd the shared limiter (real Redis)."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from worker.dmarket.client import LAST_SALES, Budgets
from worker.ratelimit import SharedRateLimiter

SWEEPERS = 8
RATE = 20.0  # a fast lane keeps the test short; the interval is what matters


@pytest.fixture
def budgets(redis_client: redis.Redis) -> Iterator[Budgets]:
    made = Budgets.of(f"dmarket:ratelimit:test:{uuid.uuid4().hex}", {LAST_SALES: RATE}, background_share=0.5)
    yield made
    redis_client.delete(*(lane.key for lane in [*made.lanes.values(), *made.gates.values()]))


def interactive_waits(redis_url: str, budgets: Budgets, background: bool) -> list[float]:
    """Seconds each of 15 interactive requests waited while SWEEPERS threads took slots as fast as they could."""
    stop = threading.Event()

    def sweeper() -> None:
        connection = redis.Redis.from_url(redis_url)
        limiter = SharedRateLimiter(connection)
        try:
            while not stop.is_set():
                budgets.acquire(limiter, LAST_SALES, background=background)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(SWEEPERS)]
    for thread in threads:
        thread.start()
    connection = redis.Redis.from_url(redis_url)
    limiter = SharedRateLimiter(connection)
    try:
        time.sleep(0.5)  # the sweepers' reservations are queued up: the contention is steady
        waits = []
        for _ in range(15):
            waits.append(budgets.acquire(limiter, LAST_SALES))
            time.sleep(0.05)  # a user's scan does work between requests
        return waits
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        connection.close()


def test_interactive_requests_wait_about_one_slot_however_many_sweeps_run(redis_url: str, budgets: Budgets) -> None:
    interval_s = budgets.lanes[LAST_SALES].interval_us / 1_000_000
    gated = interactive_waits(redis_url, budgets, background=True)
    # Behind gates, sweeps hold at most about one reservation on the lane at a time: a slot or two of waiting.
    assert statistics.median(gated) <= 2.5 * interval_s, gated


def test_without_the_gates_interactive_requests_queue_behind_every_sweep(redis_url: str, budgets: Budgets) -> None:
    interval_s = budgets.lanes[LAST_SALES].interval_us / 1_000_000
    ungated = interactive_waits(redis_url, budgets, background=False)
    assert statistics.median(ungated) >= 0.6 * SWEEPERS * interval_s, ungated
