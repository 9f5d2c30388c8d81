"""Arbitrage scans end to end: the DMarket and Telegram sandboxes over real HTTP, real Redis, real workers."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.signals import task_retry
from nacl.signing import SigningKey
from sqlalchemy import select
from telegram.ext import ApplicationBuilder

from bot.app import publish_commands
from common.contract import ScanTask
from common.db.database import Database
from common.db.models import Scan, ScanOpportunity
from common.i18n import translator
from common.markets import GAME_IDS, LEVELS
from common.retry import RetryPolicy
from common.scan_slot import slot_key as guard_key
from common.settings import Settings
from tests.conftest import WorkerProcess
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.bot import running_bot
from tests.support.capture import CapturingTransport
from tests.support.settings import make_settings, settings_env
from tests.support.tasks import app as celery_app
from tests.support.valuation import offers_of, valued
from tests.support.waiting import wait_until
from worker.app import TaskFailed
from worker.arbitrage.engine import Opportunity, find_opportunities
from worker.arbitrage.workflow import rules_for
from worker.dmarket.client import DMarketClient
from worker.dmarket.models import RequestStats
from worker.dmarket.signing import Signer
from worker.ratelimit import Lane, SharedRateLimiter
from worker.resources import Resources, rate_limit_key
from worker.tasks import arbitrage as scans_task
from worker.tasks.arbitrage import arbitrage_scan

# Per test session, so that sessions running side by side on one Redis never share a user's keys.
ROOT = Path(__file__).resolve().parents[2]
USER = CHAT = 5_000_000 + os.getpid() % 1_000_000
TASK_TIMEOUT_S = 30
GUIDE_CATEGORIES = {"telegram", "trading", "http", "error"}


# -- fixtures and helpers ---------------------------------------------------------------------------------


@pytest.fixture
def scan_env(
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    redis_client: redis.Redis,
    worker_resources: Callable[[Settings], Resources],
) -> Callable[..., Settings]:
    """Factory: settings pointing at the sandboxes, installed as the in-process worker's resources."""

    def apply(database_url: str, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "dmarket_api_url": dmarket_sandbox.url,
            "dmarket_public_key": dmarket_sandbox.public_key_hex,
            "dmarket_secret_key": dmarket_sandbox.secret_key_hex,
            "telegram_bot_token": telegram_sandbox.token,
            "telegram_api_base_url": telegram_sandbox.url,
            "database_url": database_url,
        }
        settings = make_settings(**{**values, **overrides})
        worker_resources(settings)
        return settings

    # A previous test's 429 penalty or DMarket hold, progress throttle or cached valuations must not leak into this one.
    key = rate_limit_key(dmarket_sandbox.public_key_hex)
    redis_client.delete(key, f"arbitrage:progress:{CHAT}", *redis_client.scan_iter(f"{key}:*"))
    redis_client.delete(*redis_client.scan_iter("arbitrage:valuation:*"), "arbitrage:valuation:none")
    redis_client.delete(guard_key(USER))
    return apply


def expected(
    sandbox: DMarketSandbox, settings: Settings, game: str, level: str, now_s: int | None = None
) -> list[Opportunity]:
    """What the valuation predicts for the sandbox's market, computed from its pure model, not over HTTP.

    Sales windows count back from ``now_s`` (default: now); a scan that straddles a second may see a sale
    cross its window's edge, so tests compare with the prediction at the start or at the end of the scan.
    """
    now = int(time.time()) if now_s is None else now_s
    rules = rules_for(settings, game, level)
    rule = settings.arbitrage_sales_rule(level)
    return valued(sandbox.model, GAME_IDS[game], rules, rule, sandbox.sales_anchor, now)


def expected_suggested(sandbox: DMarketSandbox, settings: Settings, game: str, level: str) -> list[Opportunity]:
    """What the suggestedPrice method (asked for by name) reports: DMarket's estimate taken at its word."""
    return find_opportunities(offers_of(sandbox.model, GAME_IDS[game]), rules_for(settings, game, level))


Row = tuple[str, int, int, int, int, str, int]


def stored(database_url: str, task_id: str) -> tuple[Scan, list[Row]]:
    database = Database(database_url)
    try:
        with database.session() as session:
            scans = session.scalars(select(Scan).where(Scan.task_id == task_id)).all()
            assert len(scans) == 1
            rows = session.scalars(select(ScanOpportunity).where(ScanOpportunity.scan_id == scans[0].id)).all()
            return scans[0], sorted(
                (
                    r.item_id,
                    r.price_cents,
                    r.suggested_price_cents,
                    r.profit_cents,
                    r.profit_bp,
                    r.basis,
                    r.resale_cents,
                )
                for r in rows
            )
    finally:
        database.dispose()


def as_rows(opportunities: list[Opportunity]) -> list[Row]:
    return sorted(
        (o.item_id, o.price_cents, o.suggested_price_cents, o.profit_cents, o.profit_bp, o.basis, o.resale_cents)
        for o in opportunities
    )


def assert_predicted(
    rows: list[Row], sandbox: DMarketSandbox, settings: Settings, game: str, level: str, started_s: int
) -> None:
    """The stored rows are the valuation's prediction as of the scan's start or its end (see ``expected``)."""
    at_start = as_rows(expected(sandbox, settings, game, level, started_s))
    assert rows in (at_start, as_rows(expected(sandbox, settings, game, level)))


def scans_queued() -> int:
    """Messages waiting on the `scans` queue (through kombu, so the test key prefix applies)."""
    with celery_app.connection_for_write() as connection:
        return int(connection.default_channel.queue_declare("scans").message_count)


def purge_scans() -> None:
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge("scans")


def post_queued_message(settings: Settings, telegram: TelegramSandbox) -> int:
    """Do what the bot does before queueing: the user writes, the bot answers "queued"."""
    telegram.client.send_message(CHAT, USER, "/arbitrage")
    resources = Resources(settings)
    try:
        return resources.telegram().send_message(CHAT, "⏳ queued")
    finally:
        resources.close()


def final_message(telegram: TelegramSandbox, marker: str, timeout_s: float = TASK_TIMEOUT_S) -> dict[str, Any]:
    [message] = telegram.client.wait_for_bot_messages(
        CHAT, 1, timeout_s, predicate=lambda m: m["text"].startswith(marker)
    )
    return message


def scan(message_id: int | None, game: str, level: str, task_id: str | None = None, **options: Any) -> Any:
    return arbitrage_scan.apply_async(
        kwargs=ScanTask(USER, CHAT, message_id, game, level).kwargs(),
        task_id=task_id or str(uuid.uuid4()),
        **options,
    )


def failed(result: Any) -> dict[str, Any]:
    """Wait for a scan that failed for good: Celery's FAILURE state, with the scan's outcome in it."""
    try:
        with pytest.raises(TaskFailed) as raised:
            result.get(timeout=TASK_TIMEOUT_S)
    finally:
        # Unsubscribe now, while the result connection is up: left to AsyncResult.__del__, a failed result's
        # unsubscribe runs whenever the collector does, reconnecting a socket nothing closes.
        result.backend.remove_pending_result(result)
    assert result.state == "FAILURE"
    outcome = raised.value.result
    assert isinstance(outcome, dict)
    assert outcome["status"] == "failed"
    assert str(raised.value) == outcome["error"]
    return outcome


def failure_event(transport: CapturingTransport, outcome: dict[str, Any]) -> dict[str, Any]:
    """A failed scan's one Sentry event: the one the user's message names."""
    events = transport.items("event")
    assert [e["event_id"] for e in events] == [outcome["sentry_event_id"]], [
        e.get("message") or e.get("exception") for e in events
    ]
    return events[0]


def exception_type(event: dict[str, Any]) -> str:
    return str(event["exception"]["values"][-1]["type"])


def guide_trail(event: dict[str, Any]) -> list[str]:
    """The event's breadcrumbs in the guide's categories, in order (log records' breadcrumbs fall between)."""
    return [c["message"] for c in event["breadcrumbs"]["values"] if c.get("category") in GUIDE_CATEGORIES]


def exception_value(event: dict[str, Any]) -> str:
    return str(event["exception"]["values"][-1]["value"]).split("\n", 1)[0][:200]


# -- the scan ---------------------------------------------------------------------------------------------


def test_a_scan_stores_and_reports_exactly_the_opportunities_the_engine_predicts(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    settings = scan_env(database_url)
    message_id = post_queued_message(settings, telegram_sandbox)
    started_s = int(time.time())
    predicted = expected(dmarket_sandbox, settings, "dota2", "pro")
    assert predicted, "the sandbox market should hold some pro-level deals"

    # Pages a few hundred ms apart, as DMarket's are: progress has a free slot in the chat (1 message a second,
    # plus margin, after the "queued" reply) by the second page even on a loaded machine.
    dmarket_sandbox.client.set_latency(700)

    result = scan(message_id, "dota2", "pro").get(timeout=TASK_TIMEOUT_S)

    record, rows = stored(database_url, result_task_id(result, database_url))
    assert_predicted(rows, dmarket_sandbox, settings, "dota2", "pro", started_s)
    assert {row[5] for row in rows} <= {"instant", "listing"}  # never DMarket's estimate unless asked for
    in_band = [i for i in dmarket_sandbox.market[GAME_IDS["dota2"]] if LEVELS["pro"].contains(i.price_cents)]
    assert (record.status, record.items_seen, record.pages) == ("completed", len(in_band), -(-len(in_band) // 100))
    assert record.opportunities_found == len(rows)
    assert record.finished_at is not None
    # Every request was signed and accepted; the listing asked only for the pro band; the valuation looked up
    # buy orders in one POST per 100 titles and recent sales title by title.
    requests = dmarket_sandbox.client.requests()
    assert {r["status"] for r in requests} == {200}
    listing = [r for r in requests if r["endpoint"] == "market_items"]
    assert len(listing) == record.pages
    assert all("gameId=9a92" in r["path"] and "priceFrom=10000&priceTo=99999" in r["path"] for r in listing)
    aggregated = [r for r in requests if r["endpoint"] == "aggregated_prices"]
    assert len(aggregated) == -(-record.valued_titles // 100)
    assert 0 < len([r for r in requests if r["endpoint"] == "last_sales"]) <= record.valued_titles

    message = final_message(telegram_sandbox, "✅")
    assert message["message_id"] == message_id  # the "queued" message, edited: no second message
    assert len(telegram_sandbox.client.bot_messages(CHAT)) == 1
    assert predicted[0].title in message["text"]
    assert f"+{translator('ru').money(predicted[0].profit_cents)}" in message["text"]
    assert any(v["text"].startswith("🔎 Сканирую dota2/pro, страница") for v in message["history"])


def result_task_id(result: dict[str, Any], database_url: str) -> str:
    database = Database(database_url)
    try:
        with database.session() as session:
            return session.get_one(Scan, result["scan_id"]).task_id
    finally:
        database.dispose()


def test_a_429_storm_is_ridden_out_within_the_attempt_budget_and_recorded(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    settings = scan_env(sqlite_database_url, dmarket_max_attempts=4)
    message_id = post_queued_message(settings, telegram_sandbox)
    dmarket_sandbox.client.throttle_next(2, retry_after_s=1)
    started_wall = time.time()

    result = scan(message_id, "dota2", "advanced").get(timeout=TASK_TIMEOUT_S)

    assert result["status"] == "completed"
    assert result["rate_limited"] == 2
    # Retry-After was honoured, not just retried at once: DMarket's own log has each retry a second or more
    # after the 429 before it (a lower bound on the server's clock, which a slow machine cannot break).
    log = dmarket_sandbox.client.requests()
    assert [r["status"] for r in log[:3]] == [429, 429, 200]
    assert all(after["time"] - before["time"] >= 1.0 for before, after in itertools.pairwise(log[:3]))
    assert dmarket_sandbox.client.stats()["throttled_total"] == 2
    _, rows = stored(sqlite_database_url, result_task_id(result, sqlite_database_url))
    assert_predicted(rows, dmarket_sandbox, settings, "dota2", "advanced", int(started_wall))
    final_message(telegram_sandbox, "✅")


def test_a_storm_longer_than_the_budget_ends_with_the_rate_limit_message(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    transport = sentry_capture()
    settings = scan_env(sqlite_database_url, dmarket_max_attempts=2)
    message_id = post_queued_message(settings, telegram_sandbox)
    dmarket_sandbox.client.throttle_next(5, retry_after_s=1)

    result = failed(scan(message_id, "csgo", "standard"))

    assert result["failure"] == "rate_limited"
    assert dmarket_sandbox.client.stats()["requests_total"] == 2  # the budget, not one request more
    assert (result["requests"], result["rate_limited"]) == (2, 2)  # the result's counters are true
    text = final_message(telegram_sandbox, "⏳ DMarket ограничил частоту запросов")["text"]
    assert result["sentry_event_id"] in text
    # One event, findable by its type (the tier-2 rate-limit digest), component=api, at level warning (a rate
    # limit is tier 2, not "Trading failed").
    event = failure_event(transport, result)
    assert exception_type(event) == "RateLimitError"
    assert (event["tags"]["component"], event["level"], event["tags"]["failure"]) == ("api", "warning", "rate_limited")
    assert guide_trail(event)[-1] == "RateLimitError - Too many requests"


def test_rejected_keys_give_the_auth_message_and_one_event_without_secrets(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    stranger = SigningKey.generate()  # a well-formed keypair DMarket (the sandbox) has never heard of
    secret_hex = stranger.encode().hex() + stranger.verify_key.encode().hex()
    public_hex = stranger.verify_key.encode().hex()
    transport = sentry_capture(dmarket_public_key=public_hex, dmarket_secret_key=secret_hex)
    settings = scan_env(
        sqlite_database_url,
        dmarket_public_key=stranger.verify_key.encode().hex(),
        dmarket_secret_key=secret_hex,
    )
    message_id = post_queued_message(settings, telegram_sandbox)

    result = failed(scan(message_id, "csgo", "standard"))

    assert result["failure"] == "auth_failed"
    assert [r["status"] for r in dmarket_sandbox.client.requests()] == [401]  # never retried
    text = final_message(telegram_sandbox, "🔑")["text"]
    assert "DMarket отклонил API-ключи" in text
    assert result["sentry_event_id"] in text
    assert "Traceback" not in text
    record, rows = stored(sqlite_database_url, result_task_id(result, sqlite_database_url))
    assert (record.status, record.sentry_event_id, rows) == ("failed", result["sentry_event_id"], [])

    event = failure_event(transport, result)
    assert exception_type(event) == "AuthenticationError"  # tier 1, "Auth failed"
    assert (event["tags"]["component"], event["level"], event["tags"]["game"]) == ("api", "error", "csgo")
    assert event["user"] == {"id": str(USER)}
    crumbs = guide_trail(event)
    assert crumbs[-3] == "Trading action: arbitrage_scan_started (game: csgo, level: standard)"
    assert re.fullmatch(r"API request: GET /exchange/v1/market/items \(401, \d+ms\)", crumbs[-2]), crumbs[-2]
    assert crumbs[-1] == f"AuthenticationError - {exception_value(event)}"
    wire = transport.serialized()
    assert stranger.encode().hex().encode() not in wire
    # The public key names the trading account: not in any field (it used to ride in the limiter's Redis key).
    assert public_hex.encode() not in wire
    assert re.search(rb"dmar ed25519 [0-9a-fA-F]{16}", wire) is None  # no signature, even in frame locals
    assert not [c for c in event["breadcrumbs"]["values"] if "X-Request-Sign" in str(c)]


def test_a_database_outage_keeps_the_scan_slot_through_retries_then_tells_the_user_once(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    telegram_sandbox: TelegramSandbox,
    sentry_capture: Callable[..., CapturingTransport],
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = sentry_capture()
    settings = scan_env("postgresql+psycopg://postgres@127.0.0.1:1/scans")  # port 1: refused at once
    # Retry at once: the policy is under test, not the wait.
    monkeypatch.setattr(scans_task.arbitrage_scan, "outage_policy", RetryPolicy(7, 3600.0, 0.0, 0.0))
    message_id = post_queued_message(settings, telegram_sandbox)
    task_id = str(uuid.uuid4())
    redis_client.set(guard_key(USER), task_id)  # as the bot does before it queues the scan
    slot_at_retry: list[str | None] = []
    worker_backends: dict[int, Any] = {}

    def on_retry(sender: Any, request: Any, **_: Any) -> None:  # runs in the worker's thread
        if request.id == task_id:
            slot_at_retry.append(redis_client.get(guard_key(USER)))
            worker_backends[id(sender.backend)] = sender.backend

    task_retry.connect(on_retry, weak=False)
    try:
        result = failed(scan(message_id, "csgo", "standard", task_id=task_id))
    finally:
        task_retry.disconnect(on_retry)
        _close_result_subscriptions(worker_backends.values())

    # While a retry waits, the user's slot stays taken: no second scan can start beside this one.
    assert slot_at_retry == [task_id] * scans_task.MAX_DATABASE_RETRIES
    assert not redis_client.exists(guard_key(USER))  # released at the terminal failure
    assert (result["failure"], result["scan_id"]) == ("database", None)
    message = final_message(telegram_sandbox, "🗄️ База данных недоступна")
    assert message["message_id"] == message_id
    assert result["sentry_event_id"] in message["text"]
    [event] = transport.items("event")  # one event for the scan, not one per attempt
    assert event["event_id"] == result["sentry_event_id"]
    assert exception_type(event) == "OperationalError"
    assert (event["tags"]["component"], event["level"]) == ("database", "fatal")  # "Database down"


def _close_result_subscriptions(backends: Iterable[Any]) -> None:
    """Close what a retry opened in an in-thread worker: re-sending the task there subscribes the thread's own
    result backend (Celery's are per thread) to its result, which nothing ever closes. A prefork child never
    subscribes (it sets task_join_will_block), so production has no such connection."""
    gc.collect()  # the re-sent tasks' AsyncResults, whose finalisers would unsubscribe (and so reconnect)
    for backend in backends:
        backend.result_consumer.subscribed_to.clear()
        backend.result_consumer.stop()
        backend.client.connection_pool.disconnect()


@pytest.mark.slow
def test_the_soft_time_limit_anywhere_in_a_scan_ends_with_the_timeout_message(
    worker_process: Callable[..., WorkerProcess],
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    redis_client: redis.Redis,
) -> None:
    settings = scan_env(sqlite_database_url)
    worker_process(concurrency=1, settings=settings)  # prefork: the solo pool has no time limits
    redis_client.set(guard_key(USER), "someone else's scan")  # a scan only ever releases its own slot

    def timed_out(message_id: int) -> dict[str, Any]:
        [message] = telegram_sandbox.client.wait_for_bot_messages(
            CHAT, 1, TASK_TIMEOUT_S, lambda m: m["message_id"] == message_id and m["text"].startswith("⌛")
        )
        return message

    # While reading the market: one page takes longer than the whole soft limit.
    message_id = post_queued_message(settings, telegram_sandbox)
    dmarket_sandbox.client.set_latency(5_000)
    slow = failed(scan(message_id, "dota2", "pro", soft_time_limit=1, time_limit=30))
    assert slow["failure"] == "timeout"
    assert "dota2/pro" in timed_out(message_id)["text"]
    dmarket_sandbox.client.set_latency(0)

    # While delivering the result: the market was read and stored, then the final edit hangs past the limit.
    message_id = post_queued_message(settings, telegram_sandbox)
    redis_client.set(f"arbitrage:progress:{CHAT}", "1", px=60_000)  # no progress edits: the result is the first
    telegram_sandbox.client.inject_fault("editMessageText", status=500, delay_s=25)
    task_id = str(uuid.uuid4())
    # Reading the band and valuing its candidates (recent sales at 6/s) takes a few seconds: the limit is past it.
    late = failed(scan(message_id, "dota2", "pro", task_id=task_id, soft_time_limit=10, time_limit=40))
    assert late["failure"] == "timeout"
    record, _ = stored(sqlite_database_url, task_id)
    assert record.status == "failed"
    assert record.pages > 0
    assert "⌛" in timed_out(message_id)["text"]
    assert redis_client.get(guard_key(USER)) == "someone else's scan"


@pytest.mark.slow
def test_a_worker_killed_mid_scan_leaves_one_scan_one_set_of_rows_one_message(
    worker_process: Callable[..., WorkerProcess],
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    settings = scan_env(sqlite_database_url)
    worker = worker_process(concurrency=1, settings=settings)
    message_id = post_queued_message(settings, telegram_sandbox)
    dmarket_sandbox.client.set_latency(250)  # four pages take a second: time to kill it mid-scan
    task_id = str(uuid.uuid4())
    started_s = int(time.time())

    result = scan(message_id, "dota2", "pro", task_id=task_id)
    wait_until(lambda: dmarket_sandbox.client.stats()["served_total"] >= 1, timeout_s=20, what="the first page")
    child = _pool_child(worker.process.pid)
    os.kill(child, signal.SIGKILL)

    outcome = result.get(timeout=TASK_TIMEOUT_S)
    assert outcome["status"] == "completed"
    record, rows = stored(sqlite_database_url, task_id)
    assert record.status == "completed"
    assert_predicted(rows, dmarket_sandbox, settings, "dota2", "pro", started_s)
    assert dmarket_sandbox.client.stats()["served_total"] > record.pages  # the first run did read pages
    final_message(telegram_sandbox, "✅")
    assert [m["message_id"] for m in telegram_sandbox.client.bot_messages(CHAT)] == [message_id]


def _pool_child(worker_pid: int) -> int:
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    assert len(children) == 1, f"expected one prefork child of {worker_pid}, found {children}"
    return int(children[0])


def test_a_redelivered_completed_scan_only_repeats_its_final_message(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    settings = scan_env(sqlite_database_url)
    message_id = post_queued_message(settings, telegram_sandbox)
    task_id = str(uuid.uuid4())
    first = scan(message_id, "rust", "medium", task_id=task_id).get(timeout=TASK_TIMEOUT_S)
    requests_after_first = len(dmarket_sandbox.client.requests())

    again = scan(message_id, "rust", "medium", task_id=task_id).get(timeout=TASK_TIMEOUT_S)

    assert again["scan_id"] == first["scan_id"]
    assert again["opportunities"] == first["opportunities"]
    assert len(dmarket_sandbox.client.requests()) == requests_after_first  # DMarket was not asked again
    _, rows = stored(sqlite_database_url, task_id)
    assert len(rows) == first["opportunities"]
    assert len(telegram_sandbox.client.bot_messages(CHAT)) == 1


# -- the shared rate limit --------------------------------------------------------------------------------


def test_separate_clients_together_never_exceed_the_shared_rate(
    scan_env: Callable[..., Settings], sqlite_database_url: str, dmarket_sandbox: DMarketSandbox
) -> None:
    rate = 20
    settings = scan_env(sqlite_database_url)
    dmarket_sandbox.client.configure(rate_limit_rps=rate)
    key = f"dmarket:ratelimit:test:{uuid.uuid4().hex}"

    def one_worker(game_id: str) -> None:
        # A client of its own, with its own Redis connection: as separate processes would have.
        connection = redis.Redis.from_url(settings.redis_url)
        client = DMarketClient(
            dmarket_sandbox.url,
            Signer(dmarket_sandbox.public_key_hex, dmarket_sandbox.secret_key_hex),
            SharedRateLimiter(connection),
            Lane.per_second(key, rate, margin_ms=20.0),
        )
        try:
            pro = LEVELS["pro"]
            for _ in client.iter_market(game_id, pro.min_price_cents, pro.max_price_cents - 1, 30, RequestStats(), 20):
                pass
        finally:
            client.close()
            connection.close()

    threads = [threading.Thread(target=one_worker, args=(g,)) for g in ("a8db", "tf2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    log = dmarket_sandbox.client.requests()
    arrivals = sorted(r["time"] for r in log)
    assert len(arrivals) >= 40
    assert {r["status"] for r in log} == {200}
    # DMarket's own measure: no clock second served more than `rate` (and nothing above was refused).
    assert dmarket_sandbox.client.stats()["peak_served_per_second"] <= rate
    # How much of the budget was used is a benchmark's question (bench/bench_scan.py), not a test's.


# -- the bot command --------------------------------------------------------------------------------------


def bot_settings(telegram: TelegramSandbox, settings_factory: Callable[..., Settings], **overrides: object) -> Settings:
    return settings_factory(
        telegram_bot_token=telegram.token, telegram_api_base_url=telegram.url, bot_language="ru", **overrides
    )


def test_arbitrage_command_end_to_end_edits_the_queued_reply_into_the_result(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    settings_factory: Callable[..., Settings],
    redis_client: redis.Redis,
) -> None:
    settings = scan_env(sqlite_database_url)
    predicted = expected(dmarket_sandbox, settings, "dota2", "pro")
    with running_bot(bot_settings(telegram_sandbox, settings_factory)):
        telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage dota2 pro")
        message = final_message(telegram_sandbox, "✅")

    assert [m["message_id"] for m in telegram_sandbox.client.bot_messages(CHAT)] == [message["message_id"]]
    assert any("Скан dota2/pro поставлен в очередь" in v["text"] for v in message["history"])
    assert predicted[0].title in message["text"]
    database = Database(sqlite_database_url)
    with database.session() as session:
        [record] = session.scalars(select(Scan)).all()
        assert (record.user_id, record.chat_id, record.game, record.level) == (USER, CHAT, "dota2", "pro")
    database.dispose()
    wait_until(lambda: not redis_client.exists(guard_key(USER)), what="the worker to clear the running-scan key")


def test_bad_arguments_get_usage_and_a_second_scan_is_refused_while_one_runs(
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    telegram_sandbox: TelegramSandbox,
    settings_factory: Callable[..., Settings],
    redis_client: redis.Redis,
) -> None:
    scan_env(sqlite_database_url)
    purge_scans()
    try:
        with running_bot(bot_settings(telegram_sandbox, settings_factory)):
            telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage dota3 pro")
            telegram_sandbox.client.wait_for_text(CHAT, "Использование: /arbitrage [игра] [уровень]")
            telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage csgo ultra extra")
            # As long as Telegram allows: echoing it whole would push the reply past 4096 characters.
            telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage csgo pro " + "x" * 4_000)
            telegram_sandbox.client.wait_for_text(CHAT, "«xxxx")
            assert scans_queued() == 0  # nothing was queued for bad input
            # No worker is running, so the first scan stays "running" while the second is asked for.
            telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage tf2 boost")
            telegram_sandbox.client.wait_for_text(CHAT, "Скан tf2/boost поставлен в очередь")
            telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage")
            telegram_sandbox.client.wait_for_text(CHAT, "предыдущий скан ещё идёт")
        texts = [m["text"] for m in telegram_sandbox.client.bot_messages(CHAT)]
        assert len(texts) == 5
        assert "Не понимаю «dota3»" in texts[0]
        assert "«ultra»" in texts[1]
        assert "Использование: /arbitrage" in texts[2]
        assert len(texts[2]) < 400
        assert scans_queued() == 1
    finally:
        purge_scans()
        redis_client.delete(guard_key(USER))


def test_redis_down_gives_queue_unavailable_and_one_event(
    telegram_sandbox: TelegramSandbox,
    settings_factory: Callable[..., Settings],
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    transport = sentry_capture()
    dead_redis = "redis://127.0.0.1:1/0"  # port 1: nothing listens, connections are refused at once
    with running_bot(bot_settings(telegram_sandbox, settings_factory, redis_url=dead_redis)):
        telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage")
        # How fast it answers is the enqueue benchmark's figure (bench/); here: that it answers, and how.
        reply = telegram_sandbox.client.wait_for_text(CHAT, "Очередь задач недоступна")
    [event] = [e for e in transport.items("event") if e.get("exception")]
    assert event["event_id"] in reply["text"]
    assert event["tags"]["component"] == "telegram"
    assert redis.Redis.from_url(make_settings().redis_url).ping()  # the real Redis was never the one that failed


# -- hostile listings, terminal outcomes, our own budget ----------------------------------------------------

SKIPPED_KINDS = [
    "title_lone_surrogate",
    "title_nul",
    "title_huge",
    "item_id_huge",
    "item_id_empty",
    "price_30_digits",
    "price_number",
    "price_decimal",
    "price_amount_object",
    "suggested_garbage",
]


@pytest.mark.parametrize("kind", SKIPPED_KINDS)
def test_one_bad_listing_is_skipped_counted_and_reported_once_and_the_scan_finishes(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sentry_capture: Callable[..., CapturingTransport],
    kind: str,
) -> None:
    """On PostgreSQL as on SQLite: a NUL or a 30-digit price used to fail the whole scan for everyone."""
    transport = sentry_capture()
    settings = scan_env(database_url)
    message_id = post_queued_message(settings, telegram_sandbox)
    dmarket_sandbox.client.corrupt_next(kind, count=1)

    result = scan(message_id, "dota2", "pro").get(timeout=TASK_TIMEOUT_S)

    assert result["status"] == "completed"
    assert result["skipped_listings"] == 1
    text = final_message(telegram_sandbox, "✅")["text"]
    assert "Пропущено 1 объявление: DMarket прислал по нему некорректные данные." in text
    [event] = transport.items("event")  # one report of the skip, no failure
    assert event["level"] == "warning"
    assert event["tags"]["component"] == "api"
    assert "malformed listings" in (event.get("logentry") or {}).get("message", event.get("message", ""))


def test_a_failed_scan_redelivered_is_not_scanned_or_reported_again(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    transport = sentry_capture()
    settings = scan_env(sqlite_database_url, dmarket_max_attempts=1)
    message_id = post_queued_message(settings, telegram_sandbox)
    dmarket_sandbox.client.fail_next(1, status=503)
    task_id = str(uuid.uuid4())
    first = failed(scan(message_id, "csgo", "pro", task_id=task_id))
    event = failure_event(transport, first)
    assert (exception_type(event), event["tags"]["component"], event["level"]) == ("DMarketAPIError", "api", "error")
    events_after_first, requests_after_first = len(transport.items("event")), len(dmarket_sandbox.client.requests())

    again = failed(scan(message_id, "csgo", "pro", task_id=task_id))  # a redelivery

    assert (again["failure"], again["sentry_event_id"]) == ("dmarket_down", first["sentry_event_id"])
    assert len(dmarket_sandbox.client.requests()) == requests_after_first  # DMarket was not asked again
    assert len(transport.items("event")) == events_after_first  # and Sentry was not told twice
    assert first["sentry_event_id"] in final_message(telegram_sandbox, "📡")["text"]


def test_our_own_fully_booked_budget_is_its_own_failure_not_a_dmarket_rate_limit(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    redis_client: redis.Redis,
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    transport = sentry_capture()
    settings = scan_env(sqlite_database_url)
    message_id = post_queued_message(settings, telegram_sandbox)
    # Every slot of the shared limiter is reserved for the next two minutes (other workers' scans).
    (now_s, now_us) = redis_client.time()
    redis_client.set(rate_limit_key(dmarket_sandbox.public_key_hex), str((now_s + 120) * 1_000_000 + now_us), ex=300)

    result = failed(scan(message_id, "csgo", "pro"))

    assert result["failure"] == "busy"
    assert dmarket_sandbox.client.requests() == []  # nothing was asked of DMarket
    assert "общий лимит запросов к DMarket занят" in final_message(telegram_sandbox, "⏳")["text"]
    types = [e.get("exception", {}).get("values", [{}])[-1].get("type") for e in transport.items("event")]
    assert "RateLimitError" not in types


def hold_script(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings_env(settings)}
    argv = [sys.executable, str(ROOT / "scripts" / "dmarket_hold.py"), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_long_dmarket_hold_tells_users_the_real_wait_pages_operators_and_an_operator_can_lift_it(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    """One 429 with Retry-After 3600 used to fail every user's scan for an hour with "try again in a couple of
    minutes", and nobody was paged."""
    transport = sentry_capture()
    settings = scan_env(sqlite_database_url)
    dmarket_sandbox.client.throttle_next(1, retry_after_s=3600)

    first = failed(scan(post_queued_message(settings, telegram_sandbox), "csgo", "pro"))
    assert first["failure"] == "dmarket_held"
    assert "⛔ DMarket попросил не обращаться к нему ещё 60 мин" in final_message(telegram_sandbox, "⛔")["text"]
    event = failure_event(transport, first)
    assert exception_type(event) == "RateLimitError"
    assert (event["tags"]["component"], event["level"]) == ("api", "error")  # a page, not a digest line

    second = failed(scan(post_queued_message(settings, telegram_sandbox), "csgo", "pro"))
    assert second["failure"] == "dmarket_held"
    assert len(dmarket_sandbox.client.requests()) == 1  # nothing more was asked of DMarket during the hold
    texts = [m["text"] for m in telegram_sandbox.client.bot_messages(CHAT) if m["text"].startswith("⛔")]
    assert len(texts) == 2
    assert re.search(r"ещё (59|60) мин", texts[-1])

    shown = hold_script(settings, "--json")
    assert shown.returncode == 1, shown.stderr
    [hold] = json.loads(shown.stdout)["holds"]
    assert "Retry-After 3600s" in hold["reason"]
    assert 3000 < hold["remaining_s"] <= 3600
    assert dmarket_sandbox.public_key_hex not in shown.stdout  # the lane is named by a digest only
    lifted = hold_script(settings, "--lift")
    assert lifted.returncode == 0, lifted.stderr
    assert "lifted" in lifted.stdout

    result = scan(post_queued_message(settings, telegram_sandbox), "csgo", "pro").get(timeout=TASK_TIMEOUT_S)
    assert result["status"] == "completed"  # scans ask DMarket again at once
    assert hold_script(settings).stdout.startswith("No hold")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"user_id": USER, "chat_id": CHAT, "message_id": 1, "game": "chess", "level": "pro"},
        {"user_id": USER, "chat_id": CHAT, "message_id": 1, "game": "csgo"},
        {"user_id": USER, "chat_id": CHAT, "message_id": 1, "game": "csgo", "level": "pro", "extra": 1},
    ],
    ids=["unknown-game", "missing-level", "unknown-argument"],
)
def test_a_malformed_scan_message_ends_for_its_user_and_gives_the_slot_back(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    telegram_sandbox: TelegramSandbox,
    redis_client: redis.Redis,
    kwargs: dict[str, Any],
) -> None:
    settings = scan_env(sqlite_database_url)
    message_id = post_queued_message(settings, telegram_sandbox)
    task_id = str(uuid.uuid4())
    redis_client.set(guard_key(USER), task_id, ex=600)  # as the bot does before queueing

    result = arbitrage_scan.apply_async(kwargs={**kwargs, "message_id": message_id}, task_id=task_id)

    with pytest.raises(Exception, match=r"arbitrage\.scan"):
        result.get(timeout=TASK_TIMEOUT_S)
    assert result.state == "FAILURE"
    assert not redis_client.exists(guard_key(USER))  # not locked out for 30 minutes
    assert final_message(telegram_sandbox, "😔")["message_id"] == message_id


def test_a_progress_edit_refused_with_a_long_retry_after_is_dropped_not_waited_for(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    settings = scan_env(sqlite_database_url)
    message_id = post_queued_message(settings, telegram_sandbox)
    telegram_sandbox.client.inject_fault("editMessageText", status=429, retry_after=25, count=1)
    dmarket_sandbox.client.set_latency(400)  # pages far enough apart for progress edits to have a slot

    result = scan(message_id, "dota2", "pro").get(timeout=TASK_TIMEOUT_S)

    assert result["status"] == "completed"
    edits = telegram_sandbox.client.requests(method="editMessageText")
    refused = [r for r in edits if r["status"] == 429]
    assert len(refused) == 1
    assert refused[0]["params"]["text"].startswith("🔎")  # it was a progress edit...
    later = edits[edits.index(refused[0]) + 1 :]
    assert later
    assert all(r["params"]["text"] != refused[0]["params"]["text"] for r in later)  # ...and never sent again
    final_message(telegram_sandbox, "✅")


def test_the_user_is_told_when_the_scan_waits_for_dmarkets_rate_limit(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    settings = scan_env(sqlite_database_url)
    message_id = post_queued_message(settings, telegram_sandbox)
    dmarket_sandbox.client.throttle_next(1, retry_after_s=3)

    scan(message_id, "dota2", "pro").get(timeout=TASK_TIMEOUT_S)

    message = final_message(telegram_sandbox, "✅")
    assert any("DMarket просит подождать 3 секунды" in v["text"] for v in message["history"])


def test_a_scan_that_ended_exactly_at_the_page_cap_is_not_called_capped_when_sent_again(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    in_band = [i for i in dmarket_sandbox.market[GAME_IDS["dota2"]] if LEVELS["pro"].contains(i.price_cents)]
    settings = scan_env(sqlite_database_url, arbitrage_max_pages=-(-len(in_band) // 100))
    message_id = post_queued_message(settings, telegram_sandbox)
    task_id = str(uuid.uuid4())
    first = scan(message_id, "dota2", "pro", task_id=task_id).get(timeout=TASK_TIMEOUT_S)
    first_text = final_message(telegram_sandbox, "✅")["text"]

    scan(message_id, "dota2", "pro", task_id=task_id).get(timeout=TASK_TIMEOUT_S)  # a redelivery

    assert first["capped"] is False
    assert "на пределе в" not in first_text
    again = telegram_sandbox.client.bot_messages(CHAT)[-1]
    assert again["text"] == first_text  # the same final message, not "capped" this time


def test_with_per_user_language_the_bot_and_the_worker_answer_in_the_users_language(
    worker_thread: None,
    scan_env: Callable[..., Settings],
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    settings_factory: Callable[..., Settings],
) -> None:
    """BOT_LANGUAGE stays Russian; an English Telegram app gets English from the bot and from the worker."""
    settings = scan_env(sqlite_database_url)  # the worker's BOT_LANGUAGE: ru
    predicted = expected(dmarket_sandbox, settings, "dota2", "pro")
    with running_bot(bot_settings(telegram_sandbox, settings_factory, bot_language_from_user=True)):
        telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage dota2 pro", language_code="en-US")
        message = final_message(telegram_sandbox, "✅")

    assert any("Scan of dota2/pro queued" in v["text"] for v in message["history"])
    assert "Checked: " in message["text"]
    assert f"+{translator('en').money(predicted[0].profit_cents)}" in message["text"]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_with_per_user_language_each_language_gets_its_command_menu(
    telegram_sandbox: TelegramSandbox, settings_factory: Callable[..., Settings]
) -> None:
    settings = bot_settings(telegram_sandbox, settings_factory, bot_language_from_user=True)
    assert settings.telegram_bot_token is not None
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{settings.telegram_api_base_url}/bot")
        .build()
    )
    since = max((r["seq"] for r in telegram_sandbox.client.requests()), default=0)

    async def publish() -> None:
        async with application:
            await publish_commands(application, settings)

    asyncio.run(publish())
    menus = {
        r["params"].get("language_code"): json.dumps(_json(r["params"]["commands"]), ensure_ascii=False)
        for r in telegram_sandbox.client.requests(method="setMyCommands", since_seq=since)
    }
    assert set(menus) == {None, "ru", "en"}
    assert "скан DMarket в поисках арбитража" in menus[None]  # BOT_LANGUAGE=ru for everyone else
    assert "скан DMarket в поисках арбитража" in menus["ru"]
    assert "scan DMarket for arbitrage" in menus["en"]
