"""The scheduled and the bot-triggered cleanup end to end: celery beat's Scheduler (fixed clock) → Redis →
a real worker → Sentry sandbox Web API, Crons check-ins into the Sentry sandbox, summaries in the Telegram
sandbox; and /cleanup through the production PTB application."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sentry_sdk

from common.db.migrate import upgrade
from common.observability import init_sentry
from common.settings import Settings, get_settings
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.beat import ClockedScheduler, FixedClock
from tests.support.bot import running_bot
from worker.celery_app import app

ADMIN = 1001
OTHER = 2002
WEEKLY = "sentry-cleanup-weekly-test-issues"
TIMEOUT_S = 20.0


@pytest.fixture
def env(sentry_sandbox: SentrySandbox, telegram_sandbox: TelegramSandbox, tmp_path: Path) -> dict[str, str]:
    database_url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    upgrade(database_url)
    return {
        "SENTRY_DSN": sentry_sandbox.client.dsn("0123456789abcdef0123456789abcdef"),
        "SENTRY_API_URL": sentry_sandbox.url,
        "SENTRY_AUTH_TOKEN": sentry_sandbox.token,
        "SENTRY_ORGANIZATION": sentry_sandbox.org,
        "SENTRY_PROJECT": str(sentry_sandbox.project_id),
        "TELEGRAM_BOT_TOKEN": telegram_sandbox.token,
        "TELEGRAM_API_BASE_URL": telegram_sandbox.url,
        "ADMIN_CHAT_ID": str(telegram_sandbox.admin_chat_id),
        "ADMIN_USER_IDS": str(ADMIN),
        "DATABASE_URL": database_url,
        "BOT_LANGUAGE": "en",
    }


@pytest.fixture
def process_settings(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, settings_factory: Callable[..., Settings]
) -> Iterator[Settings]:
    """This process (beat, bot and the in-process worker alike) configured by ``env``, Sentry on."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    init_sentry(settings, process="beat")
    yield settings
    sentry_sdk.get_client().close(timeout=1)  # everything asserted on has already arrived
    sentry_sdk.init()
    monkeypatch.undo()
    get_settings.cache_clear()
    init_sentry(settings_factory(), process="test")


def seed_test_issues(sandbox: SentrySandbox) -> list[str]:
    now = datetime.now(UTC)
    return sandbox.client.seed_issues(
        [
            {"title": "ValueError: Test error: boom", "tags": {"test": "true"}, "lastSeen": now.isoformat()},
            {"title": "Test Critical", "environment": "staging", "lastSeen": now.isoformat()},
            {"title": "KeyError: 'price'", "lastSeen": now.isoformat()},
        ]
    )


def test_the_weekly_beat_entry_resolves_test_issues_reports_to_crons_and_to_the_admin_chat(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_settings: Settings,
    worker_thread: None,
) -> None:
    test_error, test_critical, real = seed_test_issues(sentry_sandbox)
    clock = FixedClock(datetime(2026, 3, 2, 2, 59, tzinfo=UTC))  # a Monday, a minute before the run
    scheduler = ClockedScheduler(app, clock, record_only=False)
    for _ in scheduler.run_until(datetime(2026, 3, 2, 3, 1, tzinfo=UTC)):
        pass
    assert [entry.name for _, entry in scheduler.fired] == [WEEKLY]

    summary = telegram_sandbox.client.wait_for_text(telegram_sandbox.admin_chat_id, "Sentry cleanup done", TIMEOUT_S)
    assert "Found: 2, to resolve: 2, protected: 0" in summary["text"]
    assert "Done: 2, failed: 0" in summary["text"]
    issues = {i["id"]: i["status"] for i in sentry_sandbox.client.issues()}
    assert issues == {test_error: "resolved", test_critical: "resolved", real: "unresolved"}

    # Sentry Crons: beat announced the run, the worker closed it with "ok", both under the entry's slug.
    check_ins = sentry_sandbox.client.wait_for_check_ins(
        lambda c: c["payload"].get("monitor_slug") == WEEKLY, count=2, timeout_s=TIMEOUT_S
    )
    by_status = {c["payload"]["status"]: c["payload"] for c in check_ins}
    assert set(by_status) == {"in_progress", "ok"}
    assert by_status["ok"]["check_in_id"] == by_status["in_progress"]["check_in_id"]
    schedule = by_status["in_progress"]["monitor_config"]["schedule"]
    assert schedule == {"type": "crontab", "value": "0 3 * * 1"}


def test_cleanup_command_previews_for_admins_and_runs_from_the_button(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_settings: Settings,
    worker_thread: None,
) -> None:
    test_error, test_critical, real = seed_test_issues(sentry_sandbox)
    chat = telegram_sandbox.client
    with running_bot(process_settings):
        chat.send_message(OTHER, OTHER, "/cleanup run")
        assert "admins only" in chat.wait_for_bot_messages(OTHER, 1, TIMEOUT_S)[0]["text"]

        chat.send_message(ADMIN, ADMIN, "/cleanup old soon")
        assert "Usage: /cleanup" in chat.wait_for_text(ADMIN, "Usage", TIMEOUT_S)["text"]
        last = chat.bot_messages(ADMIN)[-1]["message_id"]

        chat.send_message(ADMIN, ADMIN, "/cleanup")
        preview = chat.wait_for_text(ADMIN, "Sentry cleanup — preview", TIMEOUT_S, after_message_id=last)
        assert "Found: 2, to resolve: 2" in preview["text"]
        assert {i["status"] for i in sentry_sandbox.client.issues()} == {"unresolved"}  # the preview changed nothing

        answer = chat.press_button(ADMIN, ADMIN, preview["message_id"], "cleanup:run:test")
        outcome = chat.wait_for_text(ADMIN, "Sentry cleanup done", TIMEOUT_S, after_message_id=last)
        assert outcome["message_id"] == preview["message_id"]  # the same message, edited
        assert chat.callback_answer(answer["callback_query_id"]) is not None
    issues = {i["id"]: i["status"] for i in sentry_sandbox.client.issues()}
    assert issues == {test_error: "resolved", test_critical: "resolved", real: "unresolved"}
    assert chat.bot_messages(OTHER)[-1]["text"].count("admins only") == 1
    assert len(chat.bot_messages(OTHER)) == 1  # nothing ran for the non-admin
