"""Redis lost in the middle of a scan: the scan ends once, for its user, when Redis is back (issue: two endings).

Real parts: a private redis-server with its append-only file (as `make run` and compose run it), a prefork
worker on it for broker, limiter and slot, the DMarket and Telegram sandboxes, the database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from common.contract import INTERACTIVE_QUEUES, ScanTask
from common.db.database import Database
from common.db.models import Scan
from common.scan_slot import slot_key
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.environment import TEST_KEY_PREFIX
from tests.support.redis_server import RedisServer, private_redis
from tests.support.settings import make_settings, settings_env
from tests.support.waiting import wait_until
from tests.support.workers import running_worker
from worker.app import WorkerApp
from worker.resources import Resources

pytestmark = pytest.mark.chaos

USER = CHAT = 7_000_000 + os.getpid() % 1_000_000
TIMEOUT_S = 60.0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    data = tmp_path / "redis"
    data.mkdir()
    with private_redis(data, appendonly=True) as server:
        yield server


def test_redis_lost_mid_scan_gives_one_ending_the_result_once_redis_is_back(
    own_redis: RedisServer,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sqlite_database_url: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(
        redis_url=own_redis.url(),
        dmarket_api_url=dmarket_sandbox.url,
        dmarket_public_key=dmarket_sandbox.public_key_hex,
        dmarket_secret_key=dmarket_sandbox.secret_key_hex,
        telegram_bot_token=telegram_sandbox.token,
        telegram_api_base_url=telegram_sandbox.url,
        database_url=sqlite_database_url,
    )
    app = WorkerApp(settings)
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": TEST_KEY_PREFIX}
    env = {**os.environ, **settings_env(settings), "TEST_INTERACTIVE_VISIBILITY_TIMEOUT_S": "4"}
    telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage")
    resources = Resources(settings)
    try:
        message_id = resources.telegram().send_message(CHAT, "⏳ queued")
    finally:
        resources.close()
    task_id = str(uuid.uuid4())
    direct = redis.Redis.from_url(own_redis.url())
    direct.set(slot_key(USER), task_id, ex=600)  # as the bot does before queueing
    direct.close()
    dmarket_sandbox.client.set_latency(700)  # a few seconds of pages: time for Redis to go mid-scan

    log_path = tmp_path / "worker.log"
    with running_worker(app, "tests.support.tasks", env=env, log_path=log_path, queues=list(INTERACTIVE_QUEUES)):
        call = ScanTask(USER, CHAT, message_id, "dota2", "pro")
        app.send_task(ScanTask.NAME, kwargs=call.kwargs(), task_id=task_id, queue=ScanTask.QUEUE, ignore_result=True)
        app.close()
        wait_until(lambda: dmarket_sandbox.client.stats()["served_total"] >= 1, timeout_s=TIMEOUT_S, what="a page")
        own_redis.stop()

        def scan_stopped() -> bool:  # the worker put the scan back, or (the defect) told the user it failed
            told = telegram_sandbox.client.bot_messages(CHAT)[-1]["text"]
            return "Redis went away during scan" in log_path.read_text() or told.startswith("😔")

        wait_until(scan_stopped, TIMEOUT_S, what="the scan to meet the outage")
        dmarket_sandbox.client.set_latency(0)
        own_redis.start()  # the same append-only file: the unacked scan is still there

        [final] = telegram_sandbox.client.wait_for_bot_messages(
            CHAT, 1, TIMEOUT_S, predicate=lambda m: m["message_id"] == message_id and m["text"].startswith("✅")
        )

    texts = [version["text"] for version in final["history"]]
    assert not [t for t in texts if t.startswith("😔")], texts  # never told it failed: one ending, the result
    database = Database(sqlite_database_url)
    try:
        with database.session() as session:
            scan = session.scalar(select(Scan).where(Scan.task_id == task_id))
            assert scan is not None
            assert (scan.status, scan.attempts) == ("completed", 2)
    finally:
        database.dispose()
    check = redis.Redis.from_url(own_redis.url())
    try:
        # The user may scan again: the slot goes right after the result is delivered.
        wait_until(lambda: not check.exists(slot_key(USER)), timeout_s=TIMEOUT_S, what="the slot released")
    finally:
        check.close()
    assert [m["message_id"] for m in telegram_sandbox.client.bot_messages(CHAT)] == [message_id]
