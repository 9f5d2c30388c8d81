"""BEAT_SCHEDULER=redbeat: two real beat processes on one Redis; each entry fires once per period, Crons included."""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from common.status import SENT_AT_HEADER, queue_keys
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.support.environment import TEST_KEY_PREFIX
from tests.support.redbeat_app import FAST_ENTRY, FAST_PERIOD_S, MINUTE_ENTRY
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _sent(redis_client: redis.Redis) -> list[dict[str, Any]]:
    """The headers of every message beat has queued so far, oldest first."""
    messages = []
    for key in queue_keys("scans", TEST_KEY_PREFIX):
        messages += [json.loads(raw)["headers"] for raw in redis_client.lrange(key, 0, -1)]
    return sorted(messages, key=lambda headers: headers[SENT_AT_HEADER])


def _of(messages: list[dict[str, Any]], args: list[int]) -> list[float]:
    """When each message of the entry with these arguments was sent."""
    return [float(m[SENT_AT_HEADER]) for m in messages if list(ast.literal_eval(m.get("argsrepr") or "()")) == args]


@pytest.fixture
def scans_queue(redis_client: redis.Redis) -> Iterator[None]:
    keys = queue_keys("scans", TEST_KEY_PREFIX)
    redis_client.delete(*keys)
    yield
    redis_client.delete(*keys)


@pytest.mark.timeout(180)
def test_two_redbeat_replicas_fire_each_entry_once_per_period_and_crons_still_check_in(
    tmp_path: Path, redis_client: redis.Redis, sentry_sandbox: SentrySandbox, scans_queue: None
) -> None:
    env = {
        **os.environ,
        "BEAT_SCHEDULER": "redbeat",
        "TEST_REDBEAT_KEY_PREFIX": f"{TEST_KEY_PREFIX}redbeat-{uuid.uuid4().hex[:8]}:",
        "SENTRY_DSN": sentry_sandbox.dsn,
    }
    argv = [sys.executable, "-m", "celery", "-A", "tests.support.redbeat_app", "beat", "-l", "INFO"]
    beats: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"beat-{n}.log" for n in range(2)]
    try:
        for log in logs:
            with log.open("wb") as out:
                beats.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
        # Long enough for the every-minute entry to fire once, and the fast one many times.
        wait_until(
            lambda: _of(_sent(redis_client), [2, 2]) and len(_of(_sent(redis_client), [1, 1])) >= 5,
            timeout_s=100,
            interval_s=0.5,
            what="the minute entry to fire",
        )
        assert all(beat.poll() is None for beat in beats), [log.read_text() for log in logs]

        # The leader goes away (a deploy, a crash): the other replica takes over and the entries go on.
        leader = next(n for n, log in enumerate(logs) if "Sending due task" in log.read_text())
        beats[leader].terminate()
        beats[leader].wait(timeout=15)
        stopped_at = time.time()
        wait_until(
            lambda: [t for t in _of(_sent(redis_client), [1, 1]) if t > stopped_at + 0.5],
            timeout_s=40,
            interval_s=0.5,
            what="the other replica to fire the fast entry",
        )
        assert "Sending due task" in logs[1 - leader].read_text()
    finally:
        for beat in beats:
            beat.terminate()
        for beat in beats:
            beat.wait(timeout=15)

    fast = _of(_sent(redis_client), [1, 1])
    gaps = [later - earlier for earlier, later in itertools.pairwise(fast)]
    # One firing per period: two replicas firing would leave gaps of ~0 s (the same instant, twice).
    assert min(gaps) > FAST_PERIOD_S / 2, gaps
    assert len(_of(_sent(redis_client), [2, 2])) == 1

    # sentry-sdk patches RedBeat's scheduler: the minute entry is a Crons monitor with one check-in per run.
    monitors = {monitor["slug"]: monitor for monitor in sentry_sandbox.client.monitors()}
    assert MINUTE_ENTRY in monitors
    assert FAST_ENTRY not in monitors  # a 2 s interval is no Crons schedule; the SDK leaves it out
    check_ins = sentry_sandbox.client.monitor_check_ins(MINUTE_ENTRY)
    assert [check_in["status"] for check_in in check_ins] == ["in_progress"]  # no worker ran it here


def test_the_beat_healthcheck_follows_the_real_schedule_file_and_redbeats_redis(tmp_path: Path) -> None:
    schedule = tmp_path / "celerybeat-schedule"
    health = [sys.executable, "-m", "worker", "healthcheck", "beat", "--schedule", str(schedule)]

    def check(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(health, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=30)

    before = check()
    assert before.returncode == 1
    assert "no schedule file" in before.stdout
    argv = [sys.executable, "-m", "celery", "-A", "tests.support.tasks", "beat", "-l", "INFO", "-s", str(schedule)]
    with (tmp_path / "beat.log").open("wb") as out:
        beat = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: check().returncode == 0, timeout_s=30, interval_s=0.5, what="beat's schedule file")
    finally:
        beat.terminate()
        beat.wait(timeout=15)
    down = check(BEAT_SCHEDULER="redbeat", REDIS_URL="redis://127.0.0.1:1/0")
    assert down.returncode == 1
    assert "Redis does not answer" in down.stdout
    assert check(BEAT_SCHEDULER="redbeat").returncode == 0
