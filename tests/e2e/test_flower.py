"""Flower as `make run` and compose start it: a real Flower process, real Redis and a real prefork worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.contract import OpsStatusTask
from scripts.run_local import flower_argv
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
AUTH = ("operator", "flower-" + uuid.uuid4().hex)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def flower(tmp_path: Path, secret_env: dict[str, str]) -> Iterator[str]:
    """Flower on the test app (its key prefix), with basic auth from FLOWER_BASIC_AUTH; its base URL."""
    port = _free_port()
    argv = flower_argv([sys.executable, "-m", "celery", "-A", "tests.support.tasks"], tmp_path, port)
    log = (tmp_path / "flower.log").open("wb")
    env = {**os.environ, **secret_env, "FLOWER_BASIC_AUTH": ":".join(AUTH)}
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthcheck", timeout=1).text == "OK"
        except httpx.HTTPError:
            return process.poll() is not None  # fail fast below if it exited

    try:
        wait_until(healthy, timeout_s=30, what="Flower's /healthcheck")
        assert process.poll() is None, (tmp_path / "flower.log").read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
    # --persistent: the state is written to the db on the way out.
    assert any(path.name.startswith("flower.db") for path in tmp_path.iterdir())


def _api(url: str, path: str) -> Any:
    response = httpx.get(f"{url}{path}", auth=AUTH, timeout=5)
    response.raise_for_status()
    return response.json()


def test_flower_shows_workers_tasks_failures_and_metrics_behind_basic_auth(
    flower: str,
    worker_process: Callable[..., WorkerProcess],
    celery_app: Any,
    secret_env: dict[str, str],
    sqlite_database_url: str,
) -> None:
    worker = worker_process(concurrency=2, extra_env={**secret_env, "DATABASE_URL": sqlite_database_url})
    wait_until(lambda: worker.name in _api(flower, "/api/workers?refresh=1"), timeout_s=20, what="Flower to list it")

    added = celery_app.send_task("tests.add", args=[2, 3])
    failed = celery_app.send_task("tests.fail", args=["broken on purpose"])
    status = celery_app.send_task(OpsStatusTask.NAME, kwargs=OpsStatusTask(f"reply:{uuid.uuid4().hex}").kwargs())
    assert added.get(timeout=20) == 5

    def finished() -> dict[str, Any] | None:
        tasks: dict[str, Any] = _api(flower, "/api/tasks")
        done = all(tasks.get(t.id, {}).get("state") in ("SUCCESS", "FAILURE") for t in (added, failed, status))
        return tasks if done else None

    tasks = wait_until(finished, timeout_s=20, what="Flower to see the three tasks finish")
    assert tasks[added.id]["name"] == "tests.add"
    assert tasks[added.id]["state"] == "SUCCESS"
    assert tasks[added.id]["runtime"] is not None
    assert tasks[failed.id]["state"] == "FAILURE"
    assert "broken on purpose" in tasks[failed.id]["exception"]
    assert tasks[status.id]["state"] == "SUCCESS"
    # Flower shows arguments, kwargs and results: none holds anything the processes keep secret.
    shown = json.dumps(tasks)
    for name, secret in secret_env.items():
        assert secret not in shown, name

    metrics = httpx.get(f"{flower}/metrics", timeout=5).text
    assert 'flower_events_total{task="tests.fail",type="task-failed"' in metrics
    assert 'flower_events_total{task="tests.add",type="task-succeeded"' in metrics
    assert "flower_task_runtime_seconds_bucket" in metrics

    for path in ("/api/workers", "/api/tasks", "/"):
        assert httpx.get(f"{flower}{path}", timeout=5).status_code == 401, path
    assert httpx.get(f"{flower}/api/workers", auth=("operator", "wrong"), timeout=5).status_code == 401
