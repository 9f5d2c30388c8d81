"""Every outside call has a total deadline: a peer that drips its answer a byte at a time cannot hold a worker.

httpx's timeouts bound each read; a DMarket stand-in that sent one byte every 5 s held a request for minutes.
Real parts: the DMarket sandbox's slow-drip fault over HTTP, the production client, a real Redis limiter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from common.http_deadline import send_within
from sandbox.dmarket.signing import sign_request
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.support.waiting import wait_until
from worker.dmarket.client import MARKET_ITEMS_PATH, DMarketClient, RequestStats
from worker.dmarket.errors import DMarketUnreachable
from worker.dmarket.signing import Signer
from worker.ratelimit import Lane, SharedRateLimiter

CS2 = "a8db"


@pytest.fixture
def limiter(redis_url: str) -> Iterator[SharedRateLimiter]:
    connection = redis.Redis.from_url(redis_url)
    yield SharedRateLimiter(connection)
    connection.close()


def impatient_client(sandbox: DMarketSandbox, limiter: SharedRateLimiter, **options: Any) -> DMarketClient:
    """The production client on a fresh lane, with a short response deadline and quick retries."""
    return DMarketClient(
        sandbox.url,
        Signer(sandbox.public_key_hex, sandbox.secret_key_hex),
        limiter,
        Lane.per_second(f"dmarket:ratelimit:test:{uuid.uuid4().hex}", 10),
        backoff_base_s=0.05,
        **options,
    )


def signed(sandbox: DMarketSandbox) -> httpx.Request:
    path = f"{MARKET_ITEMS_PATH}?gameId={CS2}&currency=USD&limit=3"
    return httpx.Request("GET", sandbox.url + path, headers=sign_request(sandbox.secret_key_hex, "GET", path))


def test_a_dripping_response_ends_at_the_total_deadline_though_no_read_ever_times_out(
    dmarket_sandbox: DMarketSandbox,
) -> None:
    dmarket_sandbox.client.drip_next(1, interval_ms=100)  # a byte every 0.1 s: far inside the 5 s read timeout
    with httpx.Client(timeout=5.0) as client:
        with pytest.raises(httpx.ReadTimeout, match="longer than 1s in total"):
            send_within(client, signed(dmarket_sandbox), deadline_s=1.0)
        # The server saw the client leave (499), and the next answer is whole and identical to a plain send.
        wait_until(lambda: [r["status"] for r in dmarket_sandbox.client.requests()] == [499], timeout_s=5)
        whole = send_within(client, signed(dmarket_sandbox), deadline_s=10.0)
        plain = client.send(signed(dmarket_sandbox))
    assert whole.status_code == plain.status_code == 200
    assert whole.json() == plain.json()


def test_the_dmarket_client_gives_up_on_a_drip_and_tries_again(
    dmarket_sandbox: DMarketSandbox, limiter: SharedRateLimiter
) -> None:
    client = impatient_client(dmarket_sandbox, limiter, response_deadline_s=1.0)
    dmarket_sandbox.client.drip_next(1, interval_ms=100)
    stats = RequestStats()
    try:
        page = client.market_items(CS2, 1, 10_000, limit=3, stats=stats)
    finally:
        client.close()
    assert len(page.offers) == 3  # the second attempt, after the first was cut off at its deadline
    assert (stats.requests, stats.transport_errors) == (2, 1)
    assert [r["status"] for r in dmarket_sandbox.client.requests()] == [499, 200]


def test_a_drip_on_every_attempt_fails_as_unreachable_within_the_attempts_deadlines(
    dmarket_sandbox: DMarketSandbox, limiter: SharedRateLimiter
) -> None:
    client = impatient_client(dmarket_sandbox, limiter, response_deadline_s=0.5, max_attempts=2)
    dmarket_sandbox.client.drip_next(2, interval_ms=100)
    try:
        with pytest.raises(DMarketUnreachable):
            client.market_items(CS2, 1, 10_000, limit=3)
    finally:
        client.close()
