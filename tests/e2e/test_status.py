"""/status end to end: the production bot polling the Telegram sandbox, real Redis, a real prefork worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis

from common.db.database import Database
from common.db.models import CleanupRun, OutboxMessage, Scan, utcnow
from common.settings import Settings
from common.status import PRIORITY_SEPARATOR, queue_keys
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.bot import running_bot
from tests.support.environment import TEST_KEY_PREFIX
from tests.support.observed import ADMIN
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.slow

OTHER = 2002
# The bot answers within 2 s; the sandbox's long poll and this process's own scheduling get a little more.
ANSWER_BUDGET_S = 2.5


@pytest.fixture
def status_env(process_env: dict[str, str], sqlite_database_url: str) -> dict[str, str]:
    return {**process_env, "DATABASE_URL": sqlite_database_url, "BOT_LANGUAGE": "en"}


@pytest.fixture
def maintenance_queue(redis_client: redis.Redis) -> Iterator[list[str]]:
    """The maintenance queue's Redis lists (no worker in these tests consumes it), emptied afterwards."""
    keys = queue_keys("maintenance", TEST_KEY_PREFIX)
    redis_client.delete(*keys)
    yield keys
    redis_client.delete(*keys)


def _ask_status(telegram_sandbox: TelegramSandbox, user: int = ADMIN) -> tuple[str, float]:
    sent = telegram_sandbox.client.send_message(user, user, "/status")
    started = time.monotonic()
    (reply,) = telegram_sandbox.client.wait_for_bot_messages(user, 1, 10.0, after_message_id=sent["message_id"])
    return str(reply["text"]), time.monotonic() - started


def _seed_runs(database_url: str) -> None:
    database = Database(database_url)
    try:
        with database.session() as session:
            now = utcnow()
            session.add(
                Scan(
                    task_id=uuid.uuid4().hex,
                    user_id=ADMIN,
                    chat_id=ADMIN,
                    game="csgo",
                    level="standard",
                    status="completed",
                    opportunities_found=4,
                    finished_at=now - timedelta(minutes=5),
                )
            )
            session.add(
                Scan(
                    task_id=uuid.uuid4().hex,
                    user_id=ADMIN,
                    chat_id=ADMIN,
                    game="dota2",
                    level="boost",
                    status="failed",
                    failure="rate_limited",
                    finished_at=now - timedelta(minutes=1),
                )
            )
            session.add(
                CleanupRun(
                    run_key=uuid.uuid4().hex,
                    trigger="beat",
                    organization="o",
                    project="p",
                    params={"test_only": True},
                    execute=True,
                    status="done",
                    finished_at=now - timedelta(days=2),
                )
            )
            session.add(OutboxMessage(key="status-test", chat_id=ADMIN, text="later"))
    finally:
        database.dispose()


def test_an_admin_sees_workers_queues_running_tasks_runs_and_beat_within_two_seconds(
    status_env: dict[str, str],
    start_bot: Callable[..., Settings],
    worker_process: Callable[..., WorkerProcess],
    telegram_sandbox: TelegramSandbox,
    celery_app: Any,
    redis_client: redis.Redis,
    maintenance_queue: list[str],
) -> None:
    _seed_runs(status_env["DATABASE_URL"])
    worker = worker_process(concurrency=2, extra_env=status_env, queues="scans,sentry,default")
    # Two cleanups wait on the maintenance queue, one of them in the priority-9 list.
    celery_app.send_task("cleanup.run", kwargs={"test_only": True}, queue="maintenance")
    celery_app.send_task("cleanup.run", kwargs={"test_only": True}, queue="maintenance", priority=9)
    assert redis_client.llen(f"{TEST_KEY_PREFIX}maintenance{PRIORITY_SEPARATOR}9") == 1
    # A task running now.
    key = f"status-test:{uuid.uuid4().hex}"
    celery_app.send_task("tests.hold_first_attempt", args=[key, 30], queue="default")
    wait_until(lambda: redis_client.get(f"{key}:attempts"), timeout_s=10, what="the held task to start")
    try:
        with running_bot(start_bot(status_env)):
            text, elapsed_s = _ask_status(telegram_sandbox)
    finally:
        redis_client.rpush(f"{key}:never", 1)  # lets the held task finish

    assert elapsed_s < ANSWER_BUDGET_S, text
    lines = text.splitlines()
    assert lines[0] == "📊 System status"
    assert f"👷 Workers (1): {worker.name} [default,scans,sentry]" in lines
    assert "▶️ Running: tests.hold_first_attempt ×1" in lines
    queues = next(line for line in lines if line.startswith("📥 Queues:"))
    assert "maintenance 2 (oldest " in queues
    assert "scans 0" in queues
    scans = next(line for line in lines if line.startswith("🔎 Last scans:"))
    assert "dota2/boost ❌ failed (rate_limited) 1 min ago" in scans
    assert "csgo/standard ✅ completed 5 min ago" in scans
    assert "beat (test issues, resolve) ✅ done 2 d ago" in text
    assert "📤 Telegram messages waiting: 1" in lines
    beat = next(line for line in lines if line.startswith("⏰ Next beat runs:"))
    assert beat.index("upkeep-every-minute") < beat.index("sentry-cleanup-weekly-test-issues")
    assert lines[-1] == "🛰 Sentry: on"


def test_without_a_worker_the_rest_still_answers_and_a_non_admin_is_refused(
    status_env: dict[str, str],
    start_bot: Callable[..., Settings],
    telegram_sandbox: TelegramSandbox,
    maintenance_queue: list[str],
) -> None:
    with running_bot(start_bot(status_env)):
        text, elapsed_s = _ask_status(telegram_sandbox)
        refused, _ = _ask_status(telegram_sandbox, OTHER)
    assert elapsed_s < ANSWER_BUDGET_S
    assert "⚠️ No worker answered within 1.5 s" in text
    assert "📥 Queues: scans 0 · sentry 0 · maintenance 0 · default 0" in text
    assert "⏰ Next beat runs:" in text
    assert "System status" not in refused


def test_broker_down_is_one_clear_line(
    status_env: dict[str, str], start_bot: Callable[..., Settings], telegram_sandbox: TelegramSandbox
) -> None:
    with running_bot(start_bot({**status_env, "REDIS_URL": "redis://127.0.0.1:1/0"})):
        text, elapsed_s = _ask_status(telegram_sandbox)
    assert elapsed_s < ANSWER_BUDGET_S
    broker = [line for line in text.splitlines() if "broker" in line.lower()]
    assert broker == [
        "❌ The broker (Redis) is unavailable (ConnectionError): queues, workers and tasks cannot be seen. "
        "Check Redis and REDIS_URL."
    ]
    assert "Workers" not in text
    assert "Traceback" not in text
