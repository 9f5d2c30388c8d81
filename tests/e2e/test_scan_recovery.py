"""Scans that lose their worker, their Redis or their Telegram still end once, for their user, without loss.

Real parts: prefork worker processes killed whole (kill -9 of the process group), Redis, the DMarket and
Telegram sandboxes over HTTP, the database. The visibility timeout is shortened for the test (seconds instead of
the interactive pool's 6 minutes); everything else is production configuration.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import redis
from sqlalchemy import select, update

from common.contract import INTERACTIVE_QUEUES, ScanTask
from common.db.database import Database
from common.db.models import OutboxMessage, Scan, utcnow
from common.scan_slot import slot_key
from common.settings import Settings
from tests.conftest import WorkerProcess
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.settings import make_settings
from tests.support.tasks import app as celery_app  # noqa: F401  (configures the app before the worker modules)
from tests.support.waiting import wait_until
from worker.arbitrage import janitor
from worker.resources import Resources, rate_limit_key
from worker.tasks.arbitrage import arbitrage_scan
from worker.telegram import outbox

USER = CHAT = 6_000_000 + os.getpid() % 1_000_000
TIMEOUT_S = 45.0
VISIBILITY_S = 4


def settings_for(dmarket: DMarketSandbox, telegram: TelegramSandbox, database_url: str) -> Settings:
    return make_settings(
        dmarket_api_url=dmarket.url,
        dmarket_public_key=dmarket.public_key_hex,
        dmarket_secret_key=dmarket.secret_key_hex,
        telegram_bot_token=telegram.token,
        telegram_api_base_url=telegram.url,
        database_url=database_url,
    )


def queued_message(settings: Settings, telegram: TelegramSandbox, user: int = USER) -> int:
    """What the bot does before queueing: the user writes, the bot answers "queued"."""
    telegram.client.send_message(user, user, "/arbitrage")
    resources = Resources(settings)
    try:
        return resources.telegram().send_message(user, "⏳ queued")
    finally:
        resources.close()


def scan_row(database_url: str, task_id: str) -> Scan | None:
    database = Database(database_url)
    try:
        with database.session() as session:
            return session.scalar(select(Scan).where(Scan.task_id == task_id))
    finally:
        database.dispose()


def kill_whole_worker_mid_scan(
    worker_process: Callable[..., WorkerProcess],
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    database_url: str,
    redis_client: redis.Redis,
    user: int = USER,
) -> tuple[float, WorkerProcess]:
    """One round of the probe: a scan's worker is killed whole mid-scan; another worker of the pool finishes it.

    Checks the scan ended once, for its user, in their one message, and returns the seconds from the new
    worker being up to the result, with that worker (a caller may stop it).
    """
    settings = settings_for(dmarket_sandbox, telegram_sandbox, database_url)
    redis_client.delete(rate_limit_key(dmarket_sandbox.public_key_hex), f"arbitrage:progress:{user}")
    env = {"TEST_INTERACTIVE_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S)}
    queues = ",".join(INTERACTIVE_QUEUES)
    doomed = worker_process(settings=settings, extra_env=env, queues=queues, own_session=True)
    message_id = queued_message(settings, telegram_sandbox, user)
    dmarket_sandbox.client.set_latency(700)  # a few seconds of pages: time to kill the worker mid-scan
    task_id = str(uuid.uuid4())
    redis_client.set(slot_key(user), task_id, ex=600)  # as the bot does before queueing
    served = dmarket_sandbox.client.stats()["served_total"]

    call = ScanTask(user, user, message_id, "dota2", "pro")
    # ignore_result: a discarded AsyncResult would unsubscribe at collection through a connection never closed.
    arbitrage_scan.apply_async(kwargs=call.kwargs(), task_id=task_id, ignore_result=True)
    wait_until(lambda: dmarket_sandbox.client.stats()["served_total"] > served, timeout_s=TIMEOUT_S, what="a page")
    os.killpg(doomed.process.pid, signal.SIGKILL)  # the main process and its pool: nothing acks, nothing requeues
    doomed.process.wait(timeout=10)
    first = scan_row(database_url, task_id)
    assert first is not None
    assert (first.status, first.attempts) == ("running", 1)

    dmarket_sandbox.client.set_latency(0)
    successor = worker_process(settings=settings, extra_env=env, queues=queues)  # another worker of the pool
    up = time.monotonic()

    [final] = telegram_sandbox.client.wait_for_bot_messages(
        user, 1, TIMEOUT_S, predicate=lambda m: m["message_id"] == message_id and m["text"].startswith("✅")
    )
    took = time.monotonic() - up
    assert any(v["text"].startswith("🔁") for v in final["history"])  # the user was told it started again
    done = scan_row(database_url, task_id)
    assert done is not None
    assert (done.status, done.attempts) == ("completed", 2)
    # The user may scan again: the slot goes right after the result is delivered.
    wait_until(lambda: not redis_client.exists(slot_key(user)), timeout_s=TIMEOUT_S, what="the slot released")
    assert [m["message_id"] for m in telegram_sandbox.client.bot_messages(user)] == [message_id]  # one message
    return took, successor


def test_a_scan_whose_whole_worker_was_killed_is_finished_by_another_and_the_user_told_it_restarted(
    worker_process: Callable[..., WorkerProcess],
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sqlite_database_url: str,
    redis_client: redis.Redis,
) -> None:
    took, _ = kill_whole_worker_mid_scan(
        worker_process, dmarket_sandbox, telegram_sandbox, sqlite_database_url, redis_client
    )
    assert took < TIMEOUT_S


def test_a_result_telegram_will_not_take_for_a_while_waits_in_the_outbox_and_is_delivered_once(
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sqlite_database_url: str,
    worker_resources: Callable[[Settings], Resources],
    worker_thread: None,
    redis_client: redis.Redis,
) -> None:
    settings = settings_for(dmarket_sandbox, telegram_sandbox, sqlite_database_url)
    resources = worker_resources(settings)
    redis_client.delete(rate_limit_key(dmarket_sandbox.public_key_hex))
    redis_client.set(f"arbitrage:progress:{CHAT}", "1", px=60_000)  # no progress edits: the result is the first
    message_id = queued_message(settings, telegram_sandbox)
    # Telegram: "retry after 45 s", longer than any send may wait: the result cannot go out now.
    telegram_sandbox.client.inject_fault("editMessageText", status=429, retry_after=45, count=1)
    task_id = str(uuid.uuid4())

    result = arbitrage_scan.apply_async(
        kwargs=ScanTask(USER, CHAT, message_id, "dota2", "pro").kwargs(), task_id=task_id
    ).get(timeout=TIMEOUT_S)

    assert result["status"] == "completed"
    database = resources.database
    with database.session() as session:
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.key == f"arbitrage:{task_id}")).all()
        assert (row.status, row.edit_message_id, row.attempts) == ("pending", message_id, 1)
        assert row.text.startswith("✅")
        # Telegram's own wait is honoured: not due before 45 s have passed.
        assert row.next_attempt_at - utcnow() > timedelta(seconds=30)
    assert not telegram_sandbox.client.bot_messages(CHAT)[-1]["text"].startswith("✅")
    assert outbox.drain(resources.telegram(), database).sent == 0  # not due yet: nothing is sent early

    with database.session() as session:  # the wait is over (the test does not sit through 45 s of it)
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    report = outbox.drain(resources.telegram(), database)

    assert (report.sent, report.still_pending) == (1, 0)
    [final] = [m for m in telegram_sandbox.client.bot_messages(CHAT) if m["message_id"] == message_id]
    assert final["text"].startswith("✅")
    assert outbox.pending_count(database) == 0
    assert outbox.drain(resources.telegram(), database).sent == 0  # delivered once, never again
    assert len(telegram_sandbox.client.bot_messages(CHAT)) == 1


def test_a_result_for_a_user_who_blocked_the_bot_is_refused_for_good_not_retried(
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sqlite_database_url: str,
    worker_resources: Callable[[Settings], Resources],
    worker_thread: None,
    redis_client: redis.Redis,
) -> None:
    settings = settings_for(dmarket_sandbox, telegram_sandbox, sqlite_database_url)
    resources = worker_resources(settings)
    redis_client.set(f"arbitrage:progress:{CHAT}", "1", px=60_000)
    message_id = queued_message(settings, telegram_sandbox)
    blocked = "Forbidden: bot was blocked by the user"
    telegram_sandbox.client.inject_fault("editMessageText", status=403, description=blocked, count=10)
    task_id = str(uuid.uuid4())

    arbitrage_scan.apply_async(kwargs=ScanTask(USER, CHAT, message_id, "rust", "medium").kwargs(), task_id=task_id).get(
        timeout=TIMEOUT_S
    )

    with resources.database.session() as session:
        [row] = session.scalars(select(OutboxMessage)).all()
        assert (row.status, row.attempts) == ("refused", 1)
        assert blocked in (row.last_error or "")
    assert outbox.pending_count(resources.database) == 0


def test_a_scan_left_running_by_a_lost_worker_is_ended_by_the_janitor_once(
    telegram_sandbox: TelegramSandbox,
    dmarket_sandbox: DMarketSandbox,
    sqlite_database_url: str,
    worker_resources: Callable[[Settings], Resources],
    redis_client: redis.Redis,
) -> None:
    """Redis lost the dead worker's message (a restart without persistence): no worker will ever finish it."""
    settings = settings_for(dmarket_sandbox, telegram_sandbox, sqlite_database_url)
    resources = worker_resources(settings)
    message_id = queued_message(settings, telegram_sandbox)
    task_id = str(uuid.uuid4())
    redis_client.set(slot_key(USER), task_id, ex=600)
    started = utcnow() - janitor.STALE_AFTER - timedelta(minutes=1)
    with resources.database.session() as session:
        session.add(
            Scan(
                task_id=task_id,
                user_id=USER,
                chat_id=CHAT,
                message_id=message_id,
                game="csgo",
                level="pro",
                status="running",
                started_at=started,
                attempts=1,
            )
        )
    fresh = str(uuid.uuid4())  # a scan that is merely running: left alone
    with resources.database.session() as session:
        session.add(
            Scan(
                task_id=fresh,
                user_id=USER + 1,
                chat_id=CHAT,
                game="csgo",
                level="pro",
                status="running",
                started_at=utcnow(),
                attempts=1,
            )
        )

    assert janitor.end_abandoned_scans(resources) == 1
    assert janitor.end_abandoned_scans(resources) == 0  # once

    ended = scan_row(sqlite_database_url, task_id)
    assert ended is not None
    assert (ended.status, ended.failure) == ("failed", "interrupted")
    assert ended.sentry_event_id is None or len(ended.sentry_event_id) == 32
    still = scan_row(sqlite_database_url, fresh)
    assert still is not None
    assert still.status == "running"
    [final] = [m for m in telegram_sandbox.client.bot_messages(CHAT) if m["message_id"] == message_id]
    assert final["text"].startswith("😔 Скан csgo/pro прервался")
    assert not redis_client.exists(slot_key(USER))
