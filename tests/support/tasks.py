"""The production Celery app plus a few tasks that exist only to test it.

Worker subprocesses are started with `celery -A tests.support.tasks worker`, so they run exactly the
production configuration with these extra tasks registered.
"""

from __future__ import annotations

import os

import redis

from common.observability import set_component
from common.settings import get_settings
from tests.support.environment import TEST_KEY_PREFIX
from worker.celery_app import app

app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": TEST_KEY_PREFIX}
app.conf.result_backend_transport_options = {
    **app.conf.result_backend_transport_options,
    "global_keyprefix": TEST_KEY_PREFIX,
}

__all__ = ["add", "app", "fail", "hold_first_attempt"]


@app.task(name="tests.add")
def add(a: int, b: int) -> int:
    return a + b


@app.task(name="tests.fail", acks_late=False)
def fail(message: str) -> None:
    set_component("maintenance")
    raise RuntimeError(message)


@app.task(name="tests.hold_first_attempt")
def hold_first_attempt(key: str, hold_s: float) -> int:
    """Record each attempt; the first one blocks (until killed) so a test can kill the worker mid-task."""
    client = redis.Redis.from_url(get_settings().redis_url)
    attempt = int(client.incr(f"{key}:attempts"))
    client.rpush(f"{key}:pids", os.getpid())
    if attempt == 1:
        # Blocks on a list nobody pushes to: the test SIGKILLs this process while it waits here.
        client.blpop([f"{key}:never"], timeout=hold_s)
    client.close()
    return attempt
