"""Shared fixtures. Sandbox fixtures live in tests/plugins/ (one module per sandbox)."""

from __future__ import annotations

from tests.support import environment

environment.apply()  # before any project import reads the settings
environment.patch_celery_for_sentry()  # before anything imports celery.worker

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import redis  # noqa: E402
import sentry_sdk  # noqa: E402
from celery.contrib.testing.worker import start_worker  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from common.settings import Settings, load_settings  # noqa: E402
from tests.support.capture import CapturingTransport  # noqa: E402
from tests.support.tasks import app as celery_app  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402

pytest_plugins = [
    "tests.plugins.sandbox_dmarket",
    "tests.plugins.sandbox_telegram",
    "tests.plugins.sandbox_sentry",
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _close_process_clients_at_exit() -> Iterator[None]:
    """In-thread workers never send worker_shutdown, so close the per-process clients as a worker would."""
    yield
    from worker.celery_app import close_process_clients

    close_process_clients()


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
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind we support; the same test runs against both."""
    from common.db.session import dispose_engines

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.sqlite3'}"
        dispose_engines()
        return
    url: str = request.getfixturevalue("postgres_database")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url
    dispose_engines()


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A database of each kind, migrated to head."""
    from common.db.migrate import upgrade

    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def settings_factory() -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        return load_settings(_env_file=None, **overrides)

    return make


@pytest.fixture
def sentry_capture(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., CapturingTransport]]:
    """Initialise Sentry through the production code path with an in-memory transport."""
    from common.observability import init_sentry

    def init(**overrides: object) -> CapturingTransport:
        overrides.setdefault("sentry_dsn", "https://abcdef0123456789@o1.ingest.sentry.io/42")
        transport = CapturingTransport()
        init_sentry(settings_factory(**overrides), process="test", transport=transport)
        return transport

    yield init
    sentry_sdk.get_client().close()
    # Back to a disabled client without integrations, so patched libraries stop recording breadcrumbs.
    sentry_sdk.init(default_integrations=False)


@pytest.fixture
def worker_thread(redis_url: str) -> Iterator[None]:
    """A real Celery worker (solo pool) in a thread of this process, consuming every queue over real Redis."""
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10.0, loglevel="WARNING"):
        yield


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def worker_process(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: start `celery -A tests.support.tasks worker` as a real prefork process and wait until it answers."""
    started: list[WorkerProcess] = []

    def start(concurrency: int = 1, extra_env: dict[str, str] | None = None) -> WorkerProcess:
        name = f"test-{uuid.uuid4().hex[:8]}@%h"
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.support.tasks",
                "worker",
                "-P",
                "prefork",
                "-c",
                str(concurrency),
                "-n",
                name,
                "--without-mingle",
                "--without-gossip",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env={**os.environ, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        worker = WorkerProcess(name=name.replace("%h", os.uname().nodename), process=proc)
        started.append(worker)
        wait_until(
            lambda: proc.poll() is not None or celery_app.control.ping(destination=[worker.name], timeout=0.5),
            timeout_s=30,
            what=f"worker {worker.name} to answer ping",
        )
        assert proc.poll() is None, (tmp_path / f"worker-{len(started) - 1}.log").read_text()
        return worker

    yield start
    for worker in started:
        worker.stop()
