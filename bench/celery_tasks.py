"""The production Celery app plus the no-op task the Celery benchmark measures.

Both the benchmark process and its workers (``celery -A bench.celery_tasks worker``) import this module, so they
run exactly the production configuration (``worker.app.app`` on ``celery_config(settings)``), given the
benchmark's Redis through ``app.use_settings`` and a key prefix so a benchmark never touches another run's or
the tests' queues. Everything else comes from the environment the benchmark gives its workers.

``BENCH_SENTRY_BARE_DSN`` asks for the comparison point of the Sentry measurement: sentry-sdk with nothing but
its Celery integration, initialised in ``celeryd_init`` as the production ``init_sentry`` would be (run with
``SENTRY_DSN`` unset, so the production one stays off).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

import sentry_sdk
from celery.signals import celeryd_init, worker_shutdown

from common.contract import TaskCall
from common.settings import load_settings_or_exit
from worker.app import app

# The benchmark process sets these for itself and for the workers it starts; the defaults suit a manual
# `celery -A bench.celery_tasks worker` next to a local Redis.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
KEY_PREFIX = os.environ.get("BENCH_CELERY_KEY_PREFIX") or "bench-celery:"
BARE_DSN_VARIABLE = "BENCH_SENTRY_BARE_DSN"
NOOP_NAME = "bench.noop"
NOOP_QUEUE = "default"  # no route in the contract: the app's default queue

app.use_settings(load_settings_or_exit(redis_url=REDIS_URL))
# Every broker and result key under one prefix, so one SCAN finds all the benchmark left behind.
app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": KEY_PREFIX}
app.conf.result_backend_transport_options = {
    **app.conf.result_backend_transport_options,
    "global_keyprefix": KEY_PREFIX,
}

__all__ = ["KEY_PREFIX", "NOOP_NAME", "NOOP_QUEUE", "REDIS_URL", "NoopCall", "app", "noop", "noop_body"]


def noop_body() -> None:
    """Does nothing: what is measured is Celery's (and Sentry's) per-task cost around it."""


# Registered without the decorator syntax: Celery's decorator is untyped, and this keeps the function typed.
noop = app.task(name=NOOP_NAME)(noop_body)


@dataclass(frozen=True)
class NoopCall(TaskCall):
    """The no-op task as the bot's producer sends it (a contract entry that lives only in the benchmark)."""

    NAME: ClassVar[str] = NOOP_NAME
    QUEUE: ClassVar[str] = NOOP_QUEUE


def _init_bare_sentry(**_: Any) -> None:
    """Runs after the production handler (connected first, at import of worker.app), which found no DSN."""
    dsn = os.environ.get(BARE_DSN_VARIABLE)
    if not dsn:
        return
    from sentry_sdk.integrations.celery import CeleryIntegration

    settings = app.settings
    sentry_sdk.init(
        dsn=dsn,
        environment=settings.sentry_environment,
        release=settings.sentry_release,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        integrations=[CeleryIntegration()],
        # Only the Celery integration: no logging, Redis, atexit, ... (and so no auto-enabled ones either).
        default_integrations=False,
    )


def _flush_bare_sentry(**_: Any) -> None:
    # Without the atexit integration nothing flushes at exit; the benchmark counts what the sandbox received.
    if os.environ.get(BARE_DSN_VARIABLE):
        sentry_sdk.flush(timeout=10)


# Connected after worker.app's own handlers (at its import, above), so they run after them. Plain calls rather
# than decorators: Celery's signals are untyped, and a decorator would make the handlers untyped too.
celeryd_init.connect(_init_bare_sentry, weak=False)
worker_shutdown.connect(_flush_bare_sentry, weak=False)
