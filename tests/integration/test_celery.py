"""The Celery app on a real worker over real Redis: results, routing, and no work lost when a worker dies."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable

import redis

from common.contract import QUEUES, ROUTES
from tests.conftest import WorkerProcess
from tests.support.tasks import add, app, hold_first_attempt
from tests.support.waiting import wait_until
from worker.tasks.system import ping


def test_task_runs_on_a_real_worker_thread_and_its_result_is_read_back(worker_thread: None) -> None:
    assert add.delay(2, 3).get(timeout=10) == 5


def test_ping_reports_the_worker_that_ran_it(worker_thread: None) -> None:
    answer = ping.apply_async().get(timeout=10)
    assert answer["pid"] == os.getpid()  # the thread worker lives in this process


def test_every_route_names_a_declared_queue() -> None:
    declared = {queue.name for queue in app.conf.task_queues}
    assert declared == set(QUEUES)
    assert set(ROUTES.values()) <= declared
    assert app.conf.task_routes == {name: {"queue": queue} for name, queue in ROUTES.items()}
    # Each queue has its own routing key, so a message for one queue never lands in another.
    assert len({queue.routing_key for queue in app.conf.task_queues}) == len(QUEUES)


def test_a_pickled_message_is_refused_and_never_runs(worker_thread: None) -> None:
    """JSON only: a shared broker must not be a way to run code in the workers."""
    refused = add.apply_async((2, 3), serializer="pickle")
    # FIFO on one queue, one worker: once this JSON task has run, the pickled one was already handled.
    assert add.apply_async((1, 1)).get(timeout=10) == 2
    assert refused.state == "PENDING"  # it never ran, and never will


def test_a_task_whose_worker_process_is_killed_runs_again_and_completes(
    worker_process: Callable[..., WorkerProcess], redis_client: redis.Redis
) -> None:
    worker_process(concurrency=1)
    key = f"kill-test:{uuid.uuid4().hex}"
    result = hold_first_attempt.delay(key, 60)

    first_pid = int(wait_until(lambda: redis_client.lindex(f"{key}:pids", 0), what="the first attempt to start"))
    os.kill(first_pid, signal.SIGKILL)

    # acks_late + reject_on_worker_lost: the message goes back to the queue and a new child runs it.
    assert result.get(timeout=30) == 2
    pids = [int(pid) for pid in redis_client.lrange(f"{key}:pids", 0, -1)]
    assert len(pids) == 2
    assert pids[1] != first_pid
