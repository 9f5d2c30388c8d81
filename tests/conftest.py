"""Shared fixtures. Sandbox fixtures live in tests/plugins/ (one module per sandbox)."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import sentry_sdk
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from common.settings import Settings
from tests.support import environment
from tests.support.capture import CapturingTransport
from tests.support.settings import make_settings, settings_env
from tests.support.workers import WorkerProcess, start_worker

pytest_plugins = [
    "tests.plugins.sandbox_dmarket",
    "tests.plugins.sandbox_telegram",
    "tests.plugins.sandbox_sentry",
]

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    environment.apply()  # what every subprocess a test starts inherits
    environment.patch_celery_for_sentry()  # before anything imports celery.worker


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A leaked connection is reported (ResourceWarning, an error here) by the test that leaked it, not by
    whichever later test happens to run when the collector finally gets to it. Unit tests open no
    connections, so they skip the (not free) full collection."""
    yield
    if "unit" not in request.node.path.parts:
        gc.collect()


@pytest.fixture(scope="session")
def celery_app() -> Iterator[object]:
    """The production Celery app (plus the test tasks), on the session's settings and key prefix."""
    from tests.support.tasks import app

    yield app
    app.close_resources()


@pytest.fixture(scope="session")
def redis_url() -> str:
    # No FLUSHDB: another test run may share this database; Celery keys carry a per-run prefix instead.
    return environment.TEST_REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of its own for this test session, dropped at the end."""
    admin_url = make_url(environment.TEST_POSTGRES_URL)
    name = f"test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind we support; the same test runs against both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.sqlite3'}"
    url: str = request.getfixturevalue("postgres_database")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A database of each kind, migrated to head."""
    from common.db.migrate import upgrade

    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    """One migrated SQLite database, for tests whose subject is not the database."""
    from common.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
def settings_factory() -> Callable[..., Settings]:
    """Settings from the test defaults and the given values only (never the environment or a .env)."""
    return make_settings


@pytest.fixture
def worker_resources(celery_app: object) -> Iterator[Callable[[Settings], object]]:
    """Factory: give the in-process Celery app (and so an in-thread worker) the resources of these settings."""
    from worker.app import WorkerApp
    from worker.resources import Resources

    assert isinstance(celery_app, WorkerApp)
    made: list[Resources] = []

    def install(settings: Settings) -> Resources:
        resources = Resources(settings)
        made.append(resources)
        previous = celery_app.use_resources(resources)
        if previous is not None and previous not in made:
            previous.close()
        return resources

    yield install
    celery_app.use_resources(None)
    for resources in made:
        resources.close()


@pytest.fixture
def sentry_capture(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., CapturingTransport]]:
    """Initialise Sentry through the production code path with an in-memory transport."""
    from common.observability.sdk import init_sentry

    def init(**overrides: object) -> CapturingTransport:
        overrides.setdefault("sentry_dsn", "https://abcdef0123456789@o1.ingest.sentry.io/42")
        transport = CapturingTransport()
        # A new client, but scopes outlive clients: an earlier test's breadcrumbs must not reach this one's events.
        for scope in (sentry_sdk.get_global_scope(), sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()):
            scope.clear_breadcrumbs()
        init_sentry(settings_factory(**overrides), process="test", transport=transport)
        return transport

    yield init
    sentry_sdk.get_client().close()
    # Back to a disabled client without integrations, so patched libraries stop recording breadcrumbs.
    sentry_sdk.init(default_integrations=False)


@pytest.fixture
def worker_thread(celery_app: object, redis_url: str) -> Iterator[None]:
    """A real Celery worker (solo pool) in a thread of this process, consuming every queue over real Redis."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10.0, loglevel="WARNING"):
        yield


@pytest.fixture
def worker_process(celery_app: object, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: `celery -A tests.support.tasks worker` as a real prefork process, on these settings' environment."""
    started: list[WorkerProcess] = []

    def start(
        concurrency: int = 1,
        settings: Settings | None = None,
        extra_env: dict[str, str] | None = None,
        queues: str | None = None,
        own_session: bool = False,
    ) -> WorkerProcess:
        """``own_session``: the worker leads a process group of its own, which a test may kill as a whole."""
        env = {**os.environ, **(settings_env(settings) if settings else {}), **(extra_env or {})}
        worker = start_worker(
            celery_app,
            "tests.support.tasks",
            env=env,
            log_path=tmp_path / f"worker-{len(started)}.log",
            pool="prefork",
            concurrency=concurrency,
            queues=queues.split(",") if queues else None,
            name_prefix="test",
            own_session=own_session,
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
