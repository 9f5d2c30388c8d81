"""One Sentry event per real problem: a killed pool process, a broker outage (real processes, a private Redis)."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.plugins.sandbox_sentry import SentrySandbox
from tests.support.environment import TEST_KEY_PREFIX
from tests.support.redis_server import RedisServer, private_redis
from tests.support.settings import make_settings
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess, running_worker
from worker.app import WorkerApp

pytestmark = pytest.mark.chaos


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with private_redis(tmp_path) as server:
        yield server


def events(sandbox: SentrySandbox) -> list[dict[str, Any]]:
    return [e["payload"] for e in sandbox.client.events(type="event")]


def test_a_killed_pool_process_is_one_event(
    sentry_sandbox: SentrySandbox, worker_process: Callable[..., WorkerProcess], redis_client: redis.Redis
) -> None:
    from tests.support.tasks import hold_first_attempt

    worker = worker_process(concurrency=1, extra_env={"SENTRY_DSN": sentry_sandbox.dsn})
    key = f"noise:{uuid.uuid4().hex}"
    result = hold_first_attempt.delay(key, 60)
    first_pid = int(wait_until(lambda: redis_client.lindex(f"{key}:pids", 0), what="the first attempt to start"))
    os.kill(first_pid, signal.SIGKILL)
    assert result.get(timeout=30) == 2  # requeued and done: no work was lost
    worker.stop()  # a warm shutdown flushes what the worker had to send

    reported = events(sentry_sandbox)
    assert len(reported) == 1, [(e.get("logger"), e.get("logentry")) for e in reported]
    assert "exited with" in reported[0]["logentry"]["message"]


def control_app(redis_url: str) -> WorkerApp:
    """A Celery app on the private broker, with the test run's key prefix, to ping the worker there."""
    app = WorkerApp(make_settings(redis_url=redis_url))
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": TEST_KEY_PREFIX}
    return app


def test_a_broker_outage_is_one_event_however_many_retries_it_takes(
    sentry_sandbox: SentrySandbox, own_redis: RedisServer, tmp_path: Path
) -> None:
    env = {**os.environ, "SENTRY_DSN": sentry_sandbox.dsn, "REDIS_URL": own_redis.url()}
    app = control_app(own_redis.url())
    with running_worker(app, "tests.support.tasks", env=env, log_path=tmp_path / "worker.log") as worker:
        app.close()
        _outage(own_redis, worker)

    reported = events(sentry_sandbox)
    assert len(reported) == 1, [e.get("logentry") for e in reported]
    assert "Cannot connect to" in reported[0]["logentry"]["message"]


def _outage(own_redis: RedisServer, worker: WorkerProcess) -> None:
    own_redis.stop()
    # Celery retries after 2 s, 4 s, 6 s: wait until it has said so at least three times.
    wait_until(lambda: worker.log().count("Trying again in") >= 3, timeout_s=30, what="three reconnect attempts")
    own_redis.start()
    wait_until(lambda: worker.log().count("Connected to") >= 2, timeout_s=30, what="the worker to reconnect")
