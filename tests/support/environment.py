"""The environment every subprocess a test starts inherits: hermetic, whatever the developer's shell or .env holds.

In-process code never reads it (tests build Settings explicitly, tests/support/settings.py); worker, beat and
bot subprocesses get their settings from the environment, as in production, starting from this one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Concurrent test runs on one machine share the Redis database: a per-run key prefix keeps their Celery
# queues, results and control messages apart. Worker subprocesses inherit it through the environment.
TEST_KEY_PREFIX = os.environ.setdefault("TEST_CELERY_KEY_PREFIX", f"test-{os.getpid()}:")
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Variables a developer's shell might set that would make subprocesses reach real services.
_BLANKED = (
    "SENTRY_DSN",
    "SENTRY_AUTH_TOKEN",
    "SENTRY_ORGANIZATION",
    "SENTRY_PROJECT",
    "SENTRY_WEBHOOK_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "ADMIN_CHAT_ID",
    "ADMIN_USER_IDS",
    "DMARKET_PUBLIC_KEY",
    "DMARKET_SECRET_KEY",
    "FLOWER_BASIC_AUTH",
)


def apply() -> None:
    """Make the environment subprocesses inherit hermetic (called once, when pytest starts)."""
    for name in _BLANKED:
        os.environ.pop(name, None)
    # No .env file is read by any subprocess: an empty one stands in for the project's.
    empty = Path(tempfile.gettempdir()) / f"dmarket-bot-tests-{os.getpid()}.env"
    empty.write_text("")
    os.environ["ENV_FILE"] = str(empty)
    os.environ["REDIS_URL"] = TEST_REDIS_URL
    os.environ["DATABASE_URL"] = "sqlite:///var/test-default.sqlite3"
    os.environ["SENTRY_ENVIRONMENT"] = "test"
    os.environ["BOT_LANGUAGE"] = "ru"
    # PTB 22 warns (an error under filterwarnings=error) unless retry_after and friends are timedeltas.
    os.environ["PTB_TIMEDELTA"] = "true"


def patch_celery_for_sentry() -> None:
    """Install sentry-sdk's Celery patches now, as `celeryd_init` does in production before the worker loads.

    The worker consumer binds `celery.app.trace.build_tracer` when its module is imported; in production that
    happens after `celeryd_init` (so after sentry-sdk patched it). Tests import the worker machinery early, so
    the patch must come first here too, or in-process workers would run tasks without the integration.
    """
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.transport import Transport

    class _Discard(Transport):
        def capture_envelope(self, envelope: object) -> None:
            pass

    sentry_sdk.init(
        dsn="https://public@o1.ingest.sentry.io/1", transport=_Discard(), integrations=[CeleryIntegration()]
    )
    sentry_sdk.get_client().close()
    sentry_sdk.init()
