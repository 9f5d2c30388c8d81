"""REDIS_URL=sentinel://...: a real worker, the bot's producer and the shared Redis clients follow a failover."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redbeat.schedulers import get_redis

from bot.producer import Producer
from common.contract import CleanupTask
from common.redis_client import async_client, sync_client
from common.settings import Settings
from common.status import queue_keys
from tests.support.environment import TEST_KEY_PREFIX
from tests.support.sentinel import MASTER_NAME, SentinelSet, running_sentinel_set
from tests.support.settings import make_settings, settings_env
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess, start_worker
from worker.app import WorkerApp, create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    with running_sentinel_set(tmp_path) as ports:
        yield ports


def _app(settings: Settings) -> WorkerApp:
    """The production app on these settings, with the test run's key prefix (as tests.support.tasks has)."""
    app = create_app(settings)
    conf = app.conf
    conf.broker_transport_options = {**conf.broker_transport_options, "global_keyprefix": TEST_KEY_PREFIX}
    conf.result_backend_transport_options = {
        **conf.result_backend_transport_options,
        "global_keyprefix": TEST_KEY_PREFIX,
    }
    return app


async def _send(settings: Settings, call: Any) -> None:
    client = async_client(settings.redis_url, settings.redis_sentinel_master, socket_timeout=2)
    producer = Producer(settings, client, key_prefix=TEST_KEY_PREFIX)
    try:
        await producer.send(call)
    finally:
        producer.close()
        await client.aclose()


@pytest.mark.timeout(120)
def test_worker_bot_and_shared_clients_follow_the_master_through_a_failover(
    sentinels: SentinelSet, tmp_path: Path, sqlite_database_url: str
) -> None:
    settings = make_settings(
        redis_url=sentinels.url, redis_sentinel_master=MASTER_NAME, database_url=sqlite_database_url
    )
    app = _app(settings)
    env = {**os.environ, **settings_env(settings)}
    worker: WorkerProcess = start_worker(
        app, "tests.support.tasks", env=env, log_path=tmp_path / "worker.log", queues=["scans", "sentry", "default"]
    )
    shared = sync_client(settings.redis_url, settings.redis_sentinel_master, socket_timeout=2)
    # What a RedBeat beat would use: its own Sentinel client, configured from the same REDIS_URL.
    redbeat_app = create_app(make_settings(**{**settings.model_dump(), "beat_scheduler": "redbeat"}))
    beat_redis = get_redis(redbeat_app)
    maintenance = queue_keys("maintenance", TEST_KEY_PREFIX)[0]
    try:
        first = sentinels.master_port_now()
        assert app.send_task("tests.add", args=[1, 2]).get(timeout=15) == 3
        key = f"sentinel:{uuid.uuid4().hex}"
        assert app.send_task("tests.hold_first_attempt", args=[key, 0.1]).get(timeout=15) == 1
        asyncio.run(_send(settings, CleanupTask(test_only=True)))
        master = redis.Redis(port=first)
        assert master.get(f"{key}:attempts") == b"1"  # the worker's Resources wrote to the master
        assert master.llen(maintenance) == 1  # the bot's producer pushed to the master
        shared.set("sentinel:probe", "before")
        beat_redis.set("sentinel:beat", "before")
        assert master.get("sentinel:beat") == b"before"

        second = sentinels.failover()
        assert second != first

        # Everything follows the new master: the worker's broker and results, its Resources, the producer.
        assert app.send_task("tests.add", args=[2, 3]).get(timeout=30) == 5
        after = f"sentinel:{uuid.uuid4().hex}"
        assert app.send_task("tests.hold_first_attempt", args=[after, 0.1]).get(timeout=30) == 1
        asyncio.run(_send(settings, CleanupTask(test_only=True)))
        promoted = redis.Redis(port=second)
        assert promoted.get(f"{after}:attempts") == b"1"
        assert promoted.llen(maintenance) == 2
        shared.set("sentinel:probe", "after")
        assert promoted.get("sentinel:probe") == b"after"
        wait_until(lambda: _quiet_set(beat_redis), timeout_s=10, what="RedBeat's client to reconnect")
        assert promoted.get("sentinel:beat") == b"after"
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()
        shared.close()
        app.close()
        redbeat_app.close()


def _quiet_set(client: Any) -> bool:
    try:
        return bool(client.set("sentinel:beat", "after"))
    except (redis.RedisError, OSError):
        return False
