"""The production Celery app plus the no-op task the Celery benchmark measures.

Both the benchmark process and its worker (``celery -A bench.celery_tasks worker``) import this module, so
they run exactly the production configuration (``worker.celery_app.configure``), pointed at the benchmark's
Redis database and key prefix so a benchmark never touches another run's or the tests' queues.
"""

from __future__ import annotations

import os

from common.settings import load_settings
from worker.celery_app import app, configure

# The benchmark process sets these for itself and for the workers it starts; the defaults suit a manual
# `celery -A bench.celery_tasks worker` next to a local Redis.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
KEY_PREFIX = os.environ.get("BENCH_CELERY_KEY_PREFIX") or "bench-celery:"

# Re-run the production configuration with the benchmark's Redis (everything else as in production), then
# prefix every broker and result key so one SCAN finds all the benchmark left behind.
configure(app, load_settings(redis_url=REDIS_URL))
app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": KEY_PREFIX}
app.conf.result_backend_transport_options = {
    **app.conf.result_backend_transport_options,
    "global_keyprefix": KEY_PREFIX,
}

__all__ = ["KEY_PREFIX", "REDIS_URL", "app", "noop"]


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]  # Celery ships no hints
def noop() -> None:
    """Does nothing: what is measured is Celery's (and Sentry's) per-task cost around it."""
