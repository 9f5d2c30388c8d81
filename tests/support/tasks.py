"""The production Celery app plus a few tasks that exist only to test it.

Worker subprocesses are started with `celery -A tests.support.tasks worker`, so they run exactly the
production configuration with these extra tasks registered. Their settings come from the environment the
test gave them and never from a .env file; in the test process itself the app runs on the session's
settings, and each test installs its own Resources (tests/conftest.py).
"""

from __future__ import annotations

import importlib
import os

from common.settings import load_settings_or_exit
from tests.support.environment import TEST_KEY_PREFIX
from worker.app import app
from worker.tasks import (  # noqa: F401 - registers the production tasks
    alerts,
    arbitrage,
    cleanup,
    selftest,
    status,
    system,
    upkeep,
    watch,
)

# A test that kills a whole worker waits for its messages to come back: seconds, not the production minutes.
if os.environ.get("TEST_INTERACTIVE_VISIBILITY_TIMEOUT_S"):
    # The module, not the package's lazy `app` attribute (worker/__init__.py), which is the Celery app.
    _app_module = importlib.import_module("worker.app")
    _app_module.INTERACTIVE_VISIBILITY_TIMEOUT_S = int(os.environ["TEST_INTERACTIVE_VISIBILITY_TIMEOUT_S"])
    _app_module.RESTORE_INTERVAL_S = 1

app.use_settings(load_settings_or_exit())
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
    from common.observability.breadcrumbs import set_component

    set_component("maintenance")
    raise RuntimeError(message)


@app.task(name="tests.hold_first_attempt", bind=True)
def hold_first_attempt(self: object, key: str, hold_s: float) -> int:
    """Record each attempt; the first one blocks (until killed) so a test can kill the worker mid-task."""
    client = app.resources.redis
    attempt = int(client.incr(f"{key}:attempts"))
    client.rpush(f"{key}:pids", os.getpid())
    if attempt == 1:
        # Blocks on a list nobody pushes to: the test SIGKILLs this process while it waits here.
        client.blpop([f"{key}:never"], timeout=hold_s)
    return attempt
