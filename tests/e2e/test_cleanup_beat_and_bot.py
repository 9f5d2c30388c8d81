"""The scheduled and the bot-triggered cleanup end to end: celery beat's Scheduler (fixed clock) → Redis →
a real worker → Sentry sandbox Web API, Crons check-ins into the Sentry sandbox, summaries in the Telegram
sandbox; and /cleanup through the production PTB application."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sentry_sdk
from celery.signals import task_retry
from telegram import Update

from bot.app import build_application
from bot.runtime import BotRuntime
from common.contract import CleanupTask
from common.db.database import Database
from common.db.migrate import upgrade
from common.observability.sdk import init_sentry
from common.retry import RetryPolicy
from common.settings import Settings
from tests.conftest import WorkerProcess
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.beat import ClockedScheduler, FixedClock
from tests.support.bot import running_bot
from tests.support.environment import TEST_KEY_PREFIX
from tests.support.settings import make_settings
from tests.support.signals import task_failures
from tests.support.tasks import app
from tests.support.waiting import wait_until
from worker.app import TaskFailed
from worker.cleanup import audit
from worker.cleanup.lock import ProjectLock, lock_key
from worker.resources import Resources
from worker.tasks import cleanup as maintenance
from worker.tasks.cleanup import sentry_cleanup

ADMIN = 1001
OTHER = 2002
WEEKLY = "sentry-cleanup-weekly-test-issues"
TIMEOUT_S = 20.0


@pytest.fixture
def process_settings(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    tmp_path: Path,
    worker_resources: Callable[[Settings], Resources],
    settings_factory: Callable[..., Settings],
) -> Iterator[Settings]:
    """Beat, the bot and the in-process worker of this test, all on one set of settings, Sentry on."""
    database_url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    upgrade(database_url)
    settings = make_settings(
        sentry_dsn=sentry_sandbox.client.dsn("0123456789abcdef0123456789abcdef"),
        sentry_api_url=sentry_sandbox.url,
        sentry_auth_token=sentry_sandbox.token,
        sentry_organization=sentry_sandbox.org,
        sentry_project=str(sentry_sandbox.project_id),
        telegram_bot_token=telegram_sandbox.token,
        telegram_api_base_url=telegram_sandbox.url,
        admin_chat_id=telegram_sandbox.admin_chat_id,
        admin_user_ids=str(ADMIN),
        database_url=database_url,
        bot_language="en",
    )
    worker_resources(settings)
    init_sentry(settings, process="beat")
    yield settings
    sentry_sdk.get_client().close(timeout=1)  # everything asserted on has already arrived
    sentry_sdk.init()
    init_sentry(settings_factory(), process="test")


@pytest.fixture
def audit_db(process_settings: Settings) -> Iterator[Database]:
    database = Database(process_settings.database_url)
    yield database
    database.dispose()


def send_cleanup(kwargs: dict[str, Any], task_id: str) -> None:
    """Queue the cleanup task; its outcome is read from the audit, Telegram and Sentry, never result.get().

    ``ignore_result``: an AsyncResult subscribes this process to the result's Redis channel, and one left to
    the garbage collector unsubscribes through a connection Celery never closes (a ResourceWarning). The
    task's retries keep the flag.
    """
    sentry_cleanup.apply_async(kwargs=CleanupTask(**kwargs).kwargs(), task_id=task_id, ignore_result=True)


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
    scheduler = ClockedScheduler(app, clock, record_only=False, names=[WEEKLY])
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


def test_a_failed_cleanup_is_reported_to_sentry_once(
    sentry_sandbox: SentrySandbox, process_settings: Settings, audit_db: Database, worker_thread: None
) -> None:
    seed_test_issues(sentry_sandbox)
    sentry_sandbox.client.configure(tokens={sentry_sandbox.token: ["event:read"]})  # may list, may not resolve

    task_id = str(uuid.uuid4())
    with task_failures("cleanup.run") as failures:
        send_cleanup(kwargs={"test_only": True, "execute": True, "trigger": "bot"}, task_id=task_id)

        def failed_run() -> audit.RunRecord | None:
            run = audit.find_run(audit_db, task_id)
            return run if run is not None and run.status == "failed" else None

        failed = wait_until(failed_run, timeout_s=TIMEOUT_S, what="the run to fail")
        # The task itself is Celery's FAILURE, with the run's summary as its reason.
        wait_until(lambda: failures, timeout_s=TIMEOUT_S, what="the task's FAILURE")
    assert "needs the event:write scope" in (failed.error or "")
    sentry_sandbox.client.wait_for_events(type="event", timeout_s=TIMEOUT_S)
    # Once that event is in, the task has finished; the worker thread shares this process's client, so a flush
    # sends anything else it reported.
    sentry_sdk.flush(timeout=5)

    events = [e["payload"] for e in sentry_sandbox.client.events(type="event")]
    # The one event is what failed the run: Sentry's Web API refusing the token (component=api), not a
    # wrapper exception, so it groups with, and alerts as, any other API failure of that kind.
    assert [e["exception"]["values"][-1]["type"] for e in events] == ["SentryAuthError"], [
        (e.get("logentry"), e.get("exception")) for e in events
    ]
    [event] = events
    assert (event["tags"]["component"], event["level"], event["tags"]["failure"]) == ("api", "error", "cleanup_api")
    assert event["fingerprint"] == ["failure", "cleanup_api", "SentryAuthError"]
    [failure] = failures
    assert isinstance(failure, TaskFailed)
    assert "needs the event:write scope" in str(failure)


def test_the_run_button_on_a_preview_telegram_no_longer_shows_answers_in_a_new_message(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_settings: Settings,
    worker_thread: None,
) -> None:
    test_error, test_critical, real = seed_test_issues(sentry_sandbox)
    chat = telegram_sandbox.client
    chat.register_chat(ADMIN, chat_type="private", first_name="Admin")
    button = {"text": "▶️ Run", "callback_data": "cleanup:run:test"}
    resources = Resources(process_settings)
    preview_id = resources.telegram().send_message(
        ADMIN, "🧹 an old preview", reply_markup={"inline_keyboard": [[button]]}
    )
    resources.close()
    update = chat.press_button(ADMIN, ADMIN, preview_id, "cleanup:run:test")["update"]
    # What Telegram sends for a message older than 48 hours: only chat, id and date 0 (InaccessibleMessage).
    message = update["callback_query"]["message"]
    update["callback_query"]["message"] = {"chat": message["chat"], "message_id": preview_id, "date": 0}

    async def deliver() -> None:
        runtime = BotRuntime.create(process_settings, key_prefix=TEST_KEY_PREFIX)
        application = build_application(runtime)
        async with application:
            await application.process_update(Update.de_json(update, application.bot))
        await runtime.close()

    asyncio.run(deliver())

    outcome = chat.wait_for_text(ADMIN, "Sentry cleanup done", TIMEOUT_S, after_message_id=preview_id)
    assert outcome["message_id"] > preview_id
    assert "queued" in outcome["history"][0]["text"]
    issues = {i["id"]: i["status"] for i in sentry_sandbox.client.issues()}
    assert issues == {test_error: "resolved", test_critical: "resolved", real: "unresolved"}


@pytest.fixture
def held_lock(sentry_sandbox: SentrySandbox, redis_client: redis.Redis) -> Iterator[ProjectLock]:
    """The project lock, held by another run (as the CLI would hold it)."""
    key = lock_key(httpx.URL(sentry_sandbox.url).netloc.decode(), sentry_sandbox.org, str(sentry_sandbox.project_id))
    with ProjectLock(redis_client, key, 60, owner="cli-operator-run") as lock:
        yield lock


def test_a_run_refused_by_another_runs_lock_retries_and_completes_when_it_is_free(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_settings: Settings,
    audit_db: Database,
    held_lock: ProjectLock,
    worker_thread: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(maintenance, "LOCK_RETRY_COUNTDOWN_S", 0.2)
    seed_test_issues(sentry_sandbox)
    task_id = str(uuid.uuid4())

    send_cleanup(kwargs={"test_only": True, "execute": True}, task_id=task_id)
    waiting = telegram_sandbox.client.wait_for_text(telegram_sandbox.admin_chat_id, "waiting", TIMEOUT_S)
    assert "cli-operator-run is already acting" in waiting["text"]
    refused = wait_until(lambda: audit.find_run(audit_db, task_id), what="a refused attempt")
    assert refused is not None
    assert refused.status == "refused"
    held_lock.release()

    done = telegram_sandbox.client.wait_for_text(telegram_sandbox.admin_chat_id, "Sentry cleanup done", TIMEOUT_S)
    assert done["message_id"] == waiting["message_id"]  # the waiting message became the summary
    last = audit.find_run(audit_db, task_id)
    assert last is not None
    assert last.status == "done"
    assert last.run_key != task_id
    assert {i["status"] for i in sentry_sandbox.client.issues()} == {"resolved", "unresolved"}


def test_a_run_still_refused_after_its_retries_fails(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_settings: Settings,
    audit_db: Database,
    held_lock: ProjectLock,
    worker_thread: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(maintenance, "LOCK_RETRY_COUNTDOWN_S", 0)
    monkeypatch.setattr(maintenance, "LOCK_RETRY_MAX", 2)
    seed_test_issues(sentry_sandbox)

    task_id = str(uuid.uuid4())
    send_cleanup(kwargs={"test_only": True, "execute": True}, task_id=task_id)

    failure = telegram_sandbox.client.wait_for_text(telegram_sandbox.admin_chat_id, "did not start", TIMEOUT_S)
    assert "cli-operator-run is already acting" in failure["text"]
    assert "Try again when it has finished." in failure["text"]
    runs = [r for r in audit.recent_runs(audit_db) if r.run_key.startswith(task_id)]
    assert [r.status for r in runs] == ["refused"] * 3
    [event] = sentry_sandbox.client.wait_for_events(type="event", timeout_s=TIMEOUT_S)
    assert event["payload"]["exception"]["values"][-1]["type"] == "LockHeld"  # why the task failed
    assert (event["tags"]["component"], event["payload"]["level"]) == ("maintenance", "warning")
    assert {i["status"] for i in sentry_sandbox.client.issues()} == {"unresolved"}


def test_a_scheduled_run_the_database_outage_outlasts_tells_the_admins_once_without_the_database(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_settings: Settings,
    worker_resources: Callable[[Settings], Resources],
    worker_thread: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It used to fail with the admin chat told nothing: its summary goes through the database's outbox."""
    down = process_settings.model_copy(update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/audit"})
    worker_resources(down)  # port 1: refused at once, on every attempt
    monkeypatch.setattr(sentry_cleanup, "outage_policy", RetryPolicy(7, 3600.0, 0.0, 0.0))  # the policy, not the wait
    retries: list[str] = []

    def on_retry(request: Any, **_: Any) -> None:
        retries.append(request.id)

    task_retry.connect(on_retry, weak=False)
    try:
        with task_failures("cleanup.run") as failures:
            send_cleanup(kwargs={"test_only": True, "execute": True}, task_id=str(uuid.uuid4()))
            told = telegram_sandbox.client.wait_for_text(
                telegram_sandbox.admin_chat_id, "The database is unreachable", TIMEOUT_S
            )
            wait_until(lambda: failures, timeout_s=TIMEOUT_S, what="the task's FAILURE")
    finally:
        task_retry.disconnect(on_retry)
    assert len(retries) == maintenance.MAX_DATABASE_RETRIES  # a realistic outage was waited out first
    assert "OperationalError" in told["text"]
    assert len(telegram_sandbox.client.bot_messages(telegram_sandbox.admin_chat_id)) == 1
    [event] = sentry_sandbox.client.wait_for_events(type="event", timeout_s=TIMEOUT_S)
    sentry_sdk.flush(timeout=5)
    assert len(sentry_sandbox.client.events(type="event")) == 1  # one report, not one per attempt
    assert event["payload"]["exception"]["values"][-1]["type"] == "OperationalError"
    assert (event["tags"]["component"], event["payload"]["level"]) == ("database", "fatal")


def _pool_child(worker_pid: int) -> int:
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    assert len(children) == 1, f"expected one prefork child of {worker_pid}, found {children}"
    return int(children[0])


def _ids(sandbox_request: dict[str, Any]) -> list[str]:
    return [value for key, value in sandbox_request["params"] if key == "id"]


def test_an_acting_cleanup_killed_mid_run_is_redelivered_takes_over_its_lock_and_completes(
    sentry_sandbox: SentrySandbox,
    process_settings: Settings,
    audit_db: Database,
    worker_process: Callable[..., WorkerProcess],
) -> None:
    ids = set(
        sentry_sandbox.client.seed_issues(
            [{"title": "Test Error", "tags": {"test": "true"}, "environment": "staging"}] * 450
        )
    )
    sentry_sandbox.client.configure(rate_limits={"*": 2})  # ~7 s in all: time to kill it mid-run
    worker = worker_process(concurrency=1, settings=process_settings)
    task_id = str(uuid.uuid4())

    send_cleanup(kwargs={"test_only": True, "execute": True}, task_id=task_id)

    def first_chunk_done() -> bool:
        run = audit.find_run(audit_db, task_id)
        return run is not None and "done" in {s for _, s in audit.action_states(audit_db, run.id).values()}

    wait_until(first_chunk_done, timeout_s=30, what="the first bulk resolve to be recorded")
    os.kill(_pool_child(worker.process.pid), signal.SIGKILL)

    # acks_late + reject_on_worker_lost: the message comes back; the new attempt (same task id) takes over the
    # lock its dead predecessor left (the lock TTL is 600 s) instead of being refused by it.
    def finished() -> bool:
        run = audit.find_run(audit_db, task_id)
        return run is not None and run.status == "done"

    wait_until(finished, timeout_s=60, what="the redelivered attempt to finish")
    # (The worker's main process reports the killed child to Sentry too: those are new issues, not ours.)
    assert {i["status"] for i in sentry_sandbox.client.issues() if i["id"] in ids} == {"resolved"}

    runs = sorted((r for r in audit.recent_runs(audit_db) if r.run_key.startswith(task_id)), key=lambda r: r.id)
    assert [(r.run_key, r.status) for r in runs] == [(task_id, "interrupted"), (f"{task_id}#2", "done")]
    assert audit.find_run(audit_db, task_id) == runs[1]  # the latest attempt
    first = audit.action_states(audit_db, runs[0].id)
    second = audit.action_states(audit_db, runs[1].id)
    done_first = {i for i, (_, state) in first.items() if state == "done"}
    unseen_first = {i for i, (_, state) in first.items() if state == "planned"}  # killed mid-call or before
    done_second = {i for i, (_, state) in second.items() if state == "done"}
    # The audit matches Sentry: what the first attempt saw done was not done again; the second did the rest.
    assert done_first
    assert done_first.isdisjoint(done_second)
    assert done_first | done_second | unseen_first == ids
    assert ids - done_first - done_second <= unseen_first
    assert {i for i, (_, state) in second.items() if state == "skipped"} == ids - done_second
    sent = [i for r in sentry_sandbox.client.requests_log() if r["method"] == "PUT" for i in _ids(r)]
    assert all(sent.count(i) == 1 for i in done_first)  # never resolved twice


def test_a_delete_from_the_preview_asks_first_and_cancel_deletes_nothing(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_settings: Settings,
    worker_resources: Callable[[Settings], Resources],
    worker_thread: None,
) -> None:
    russian = process_settings.model_copy(update={"bot_language": "ru"})
    worker_resources(russian)  # the worker writes the preview and its button in the UI's language
    old = (datetime.now(UTC).replace(year=2025)).isoformat()
    [stale] = sentry_sandbox.client.seed_issues(
        [{"title": "KeyError: 'price'", "status": "resolved", "environment": "staging", "lastSeen": old}]
    )
    chat = telegram_sandbox.client
    with running_bot(russian):
        chat.send_message(ADMIN, ADMIN, "/cleanup old 30 delete")
        preview = chat.wait_for_text(ADMIN, "предпросмотр", TIMEOUT_S)
        [[button]] = preview["reply_markup"]["inline_keyboard"]
        assert button["text"] == "🗑 Удалить…"  # the UI's language, and it says what it does

        chat.press_button(ADMIN, ADMIN, preview["message_id"], button["callback_data"])
        asking = wait_until(
            lambda: next(
                (
                    m
                    for m in chat.bot_messages(ADMIN)
                    if len((m.get("reply_markup") or {}).get("inline_keyboard", [[]])[0]) == 2
                ),
                None,
            ),
            timeout_s=TIMEOUT_S,
            what="the confirmation buttons",
        )
        yes, cancel = asking["reply_markup"]["inline_keyboard"][0]
        assert (yes["text"], cancel["text"]) == ("✅ Да, удалить", "✖️ Отмена")
        assert {i["id"] for i in sentry_sandbox.client.issues()} == {stale}  # asking deleted nothing

        chat.press_button(ADMIN, ADMIN, asking["message_id"], cancel["callback_data"])
        wait_until(lambda: not chat.bot_messages(ADMIN)[-1].get("reply_markup"), timeout_s=TIMEOUT_S, what="no buttons")
        assert {i["id"] for i in sentry_sandbox.client.issues()} == {stale}

        chat.send_message(ADMIN, ADMIN, "/cleanup old 30 delete")
        last = preview["message_id"]
        again = chat.wait_for_text(ADMIN, "предпросмотр", TIMEOUT_S, after_message_id=last)
        chat.press_button(
            ADMIN, ADMIN, again["message_id"], again["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        )

        def confirmation() -> list[list[dict[str, str]]] | None:
            newest = chat.bot_messages(ADMIN, after_message_id=last)[-1]
            keyboard: list[list[dict[str, str]]] = (newest.get("reply_markup") or {}).get("inline_keyboard") or []
            return keyboard if keyboard and len(keyboard[0]) == 2 else None

        confirm = wait_until(confirmation, timeout_s=TIMEOUT_S, what="the confirmation")
        chat.press_button(ADMIN, ADMIN, again["message_id"], confirm[0][0]["callback_data"])
        chat.wait_for_text(ADMIN, "Очистка Sentry выполнена", TIMEOUT_S, after_message_id=last)
    assert sentry_sandbox.client.issues() == []
