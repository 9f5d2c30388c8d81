"""/sentry_info, /test_sentry and the global error handler, end to end.

Real parts: the production PTB Application polling the Telegram sandbox, the real sentry-sdk HTTP transport
(compressed) into the Sentry sandbox, Redis, and a real prefork worker process for the cross-process trace.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import sentry_sdk
from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.handlers import selftest as sentry_handlers
from common.settings import Settings
from tests.conftest import WorkerProcess
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.bot import running_bot
from tests.support.observed import ADMIN, DSN_KEY, Record, crumbs, exception_of, trace_of, transaction_named
from tests.support.signals import task_failures
from tests.support.waiting import wait_until
from worker.app import TaskFailed
from worker.selftest import events as selftest_events

OTHER = 2002
COMMAND_CRUMB = ("telegram", "Bot command: /test_sentry")  # the bot's, carried to the worker with the task
EXPECTED_TRAIL = [
    COMMAND_CRUMB,
    ("trading", "Trading action: arbitrage_scan_started (game: csgo, level: standard)"),
    ("http", "API request: GET /exchange/v1/market/items (200, 450ms)"),
    ("trading", "Trading action: arbitrage_scan_completed (opportunities: 15)"),
]
REPORT_TIMEOUT_S = 20.0


def wait_report(telegram_sandbox: TelegramSandbox, chat_id: int = ADMIN, after: int = 0) -> Record:
    """The /test_sentry reply once the worker has replaced "queued" with the report."""
    return telegram_sandbox.client.wait_for_bot_messages(
        chat_id, 1, REPORT_TIMEOUT_S, predicate=lambda m: m["text"].startswith("🧪"), after_message_id=after
    )[0]


def test_test_sentry_all_sends_each_event_in_the_commands_trace_and_reports_the_ids(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    # The worker's token may read events, so it can confirm each one arrived.
    sentry_sandbox.client.configure(tokens={process_env["SENTRY_AUTH_TOKEN"]: ["event:read", "project:read"]})
    worker_process(extra_env=process_env)
    with running_bot(start_bot(process_env)):
        telegram_sandbox.client.send_message(ADMIN, ADMIN, "/test_sentry")
        report = wait_report(telegram_sandbox)
        events = sentry_sandbox.client.wait_for_events(type="event", count=4, timeout_s=REPORT_TIMEOUT_S)
        [command] = transaction_named(sentry_sandbox, "/test_sentry")
    [task] = transaction_named(sentry_sandbox, "selftest.run_tests")

    by_test = {e["tags"]["test_type"]: e for e in events}
    assert sorted(by_test) == ["api_error", "breadcrumbs", "division", "error"]
    assert len(events) == 4
    # One trace: the bot's command transaction, the worker's task and every test event.
    assert {trace_of(e) for e in [*events, task]} == {trace_of(command)}
    for test, event in by_test.items():
        assert event["tags"]["test"] == "true"
        assert event["tags"]["source"] == "test_sentry"
        assert event["tags"]["process"] == "worker"
        assert event["payload"]["user"] == {"id": str(ADMIN)}
        assert event["payload"]["fingerprint"] == ["test_sentry", test]
        assert event["payload"]["environment"] == "test"

    breadcrumbs = by_test["breadcrumbs"]
    assert breadcrumbs["payload"]["level"] == "info"
    assert crumbs(breadcrumbs) == EXPECTED_TRAIL
    assert breadcrumbs["tags"]["component"] == "trading"
    # Real events' shapes: the exception types, components and levels real failures report with.
    assert exception_of(by_test["error"])[0] == "ValueError"
    assert exception_of(by_test["error"])[1].startswith("Test error: ")
    assert (by_test["error"]["tags"]["component"], by_test["error"]["payload"]["level"]) == ("trading", "error")
    api_error = by_test["api_error"]
    assert exception_of(api_error) == ("RateLimitError", "Too many requests: DMarket asked to retry after 60s")
    assert (api_error["tags"]["component"], api_error["payload"]["level"]) == ("api", "warning")
    assert crumbs(api_error) == [
        COMMAND_CRUMB,
        EXPECTED_TRAIL[1],
        ("http", "API request: GET /exchange/v1/market/items (429, 120ms)"),
        ("error", "RateLimitError - Too many requests"),
    ]
    # Isolated scopes: the error tests carry the command's breadcrumb and none of the others' trail.
    assert crumbs(by_test["error"]) == [COMMAND_CRUMB]
    assert crumbs(by_test["division"]) == [COMMAND_CRUMB]
    assert exception_of(by_test["division"])[0] == "ZeroDivisionError"
    assert by_test["division"]["tags"]["component"] == "trading"

    # The bot answered at once; the worker replaced that answer with the ids and links.
    assert report["history"][0]["text"].startswith("⏳")
    for test, event in by_test.items():
        link = f"{sentry_sandbox.url}/organizations/{sentry_sandbox.org}/issues/?query={event['event_id']}"
        assert f"✅ {test}: доставлено, событие {event['event_id']}" in report["text"]
        assert link in report["text"]
    assert f"Трасса: {trace_of(command)}" in report["text"]

    # Nothing secret in anything that reached Sentry, whatever went through the scrubbers.
    wire = "\n".join(raw["body"] for raw in sentry_sandbox.client.raw_envelopes())
    token_secret = telegram_sandbox.token.split(":", 1)[1]
    for name in ("DMARKET_PUBLIC_KEY", "DMARKET_SECRET_KEY", "SENTRY_AUTH_TOKEN", "SENTRY_WEBHOOK_SECRET"):
        assert process_env[name] not in wire, f"{name} leaked to Sentry"
    assert token_secret not in wire, "the bot token leaked to Sentry"
    assert {raw["content_encoding"] for raw in sentry_sandbox.client.raw_envelopes()} <= {"gzip", "br"}


def test_each_test_type_alone_yields_exactly_its_event_in_its_own_trace(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    worker_process(extra_env=process_env)
    expected = {
        "breadcrumbs": "Test breadcrumbs: the trail of an arbitrage scan",
        "error": "ValueError",
        "api_error": "RateLimitError",
        "division": "ZeroDivisionError",
    }
    seen: list[str] = []
    with running_bot(start_bot(process_env)):
        for count, (test, title) in enumerate(expected.items(), start=1):
            last = max((m["message_id"] for m in telegram_sandbox.client.bot_messages(ADMIN)), default=0)
            telegram_sandbox.client.send_message(ADMIN, ADMIN, f"/test_sentry {test}")
            report = wait_report(telegram_sandbox, after=last)
            events = sentry_sandbox.client.wait_for_events(type="event", count=count, timeout_s=REPORT_TIMEOUT_S)
            [new] = [e for e in events if e["event_id"] not in seen]
            seen.append(new["event_id"])
            assert new["tags"]["test_type"] == test
            # The token in process_env is not one Sentry knows: delivery cannot be checked, and the report says so.
            assert f"📤 {test}: отправлено, событие {new['event_id']}" in report["text"]
            assert title in (new["payload"].get("message") or exception_of(new)[0])
        commands = sentry_sandbox.client.wait_for_events(
            lambda e: e["payload"]["transaction"] == "/test_sentry", type="transaction", count=4
        )
    events = sentry_sandbox.client.events(type="event")
    assert len(events) == 4
    # Each command is a trace of its own, and each event sits in its command's trace.
    assert len({trace_of(c) for c in commands}) == 4
    assert {trace_of(e) for e in events} == {trace_of(c) for c in commands}
    # One issue per test type: the fingerprint, not the message, decides the grouping.
    assert len({e["issue_id"] for e in events}) == 4


def test_a_black_holed_event_is_reported_as_not_confirmed_and_the_self_test_fails(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
    worker_settings: Callable[[dict[str, str]], None],
    worker_thread: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sentry answers 200 to every envelope and stores nothing: the report must not say ✅."""
    monkeypatch.setattr(selftest_events, "CONFIRM_TIMEOUT_S", 2.0)
    sentry_sandbox.client.configure(tokens={process_env["SENTRY_AUTH_TOKEN"]: ["event:read", "project:read"]})
    sentry_sandbox.client.configure(faults=[{"endpoint": "envelope", "drop": True, "count": 1000}])
    worker_settings(process_env)
    with task_failures("selftest.run_tests") as failures, running_bot(start_bot(process_env)):
        telegram_sandbox.client.send_message(ADMIN, ADMIN, "/test_sentry error")
        report = wait_report(telegram_sandbox)
        wait_until(lambda: failures, timeout_s=REPORT_TIMEOUT_S, what="the task's FAILURE")

    assert "✅" not in report["text"]
    assert re.search(r"⚠️ error: отправлено, но Sentry не показал событие [0-9a-f]{32} за 2 секунды", report["text"])
    assert "⚠️ Sentry подтвердил не все события" in report["text"]
    assert sentry_sandbox.client.events(type="event") == []  # the sandbox really stored nothing
    # Celery (and so Flower) records the failed self-test, with the reason.
    [failure] = failures
    assert isinstance(failure, TaskFailed)
    assert str(failure) == "Sentry self-test failed: error: not_confirmed"


@pytest.mark.parametrize(
    ("user_id", "command", "reply_start"),
    [
        (OTHER, "/test_sentry all", "⛔"),
        (
            ADMIN,
            "/test_sentry everything",
            "Не понимаю «everything».\nИспользование: /test_sentry [all|breadcrumbs|error|api_error|division]",
        ),
        (ADMIN, "/test_sentry error division", "Использование: /test_sentry"),
    ],
    ids=["non-admin", "unknown-subcommand", "two-subcommands"],
)
def test_refused_test_sentry_runs_nothing_and_sends_no_event(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
    worker_settings: Callable[[dict[str, str]], None],
    worker_thread: None,
    user_id: int,
    command: str,
    reply_start: str,
) -> None:
    worker_settings(process_env)
    with running_bot(start_bot(process_env)):
        telegram_sandbox.client.send_message(user_id, user_id, command)
        [reply] = telegram_sandbox.client.wait_for_bot_messages(user_id, 1)
        # A barrier: the worker answers /sentry_info through the same FIFO queue a test run would have taken.
        telegram_sandbox.client.send_message(ADMIN, ADMIN, "/sentry_info")
        telegram_sandbox.client.wait_for_text(ADMIN, "⚙️ Воркер", timeout_s=10)
        sentry_sdk.flush(timeout=5)
    assert reply_start in reply["text"]
    assert sentry_sandbox.client.events(type="event") == []
    tasks = [e["payload"]["transaction"] for e in sentry_sandbox.client.events(type="transaction")]
    assert "selftest.run_tests" not in tasks
    assert "selftest.status" in tasks


def test_sentry_info_shows_both_processes_to_admins_and_only_the_status_line_to_others(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    worker = worker_process(extra_env=process_env)
    with running_bot(start_bot(process_env)):
        telegram_sandbox.client.send_message(OTHER, OTHER, "/sentry_info")
        [public] = telegram_sandbox.client.wait_for_bot_messages(OTHER, 1)
        telegram_sandbox.client.send_message(ADMIN, ADMIN, "/sentry_info")
        admin = telegram_sandbox.client.wait_for_text(ADMIN, f"⚙️ Воркер {worker.name}", timeout_s=10)

    assert public["text"] == "✅ Sentry инициализирован\nПодробности доступны администраторам."
    text = admin["text"]
    assert admin["history"][0]["text"].endswith("⏳ Спрашиваю воркеры (очередь sentry)…")
    assert text.startswith("🤖 Бот: ✅ Sentry инициализирован")
    # The pid is the prefork child that ran the task.
    assert re.search(rf"⚙️ Воркер {re.escape(worker.name)} \(pid \d+\): ✅ Sentry инициализирован", text)
    assert text.count("• DSN: 127.0.0.1, проект 1") == 2
    assert DSN_KEY not in text
    assert text.count("• Задачи по расписанию отслеживаются в Sentry Crons: да") == 2
    assert text.count("• Окружение: test") == 2
    assert "celery" in text
    assert "logging" in text
    # Not production: the production-only items say so instead of failing.
    assert text.count("✅ SENTRY_DSN задан") == 2
    assert text.count("➖ Окружение: test; на боевом сервере задайте SENTRY_ENVIRONMENT=production") == 2
    assert text.count(f"✅ sentry-sdk {sentry_sdk.VERSION} ≥ 1.40") == 2


def test_sentry_info_says_when_no_worker_answers(
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sentry_handlers, "WORKER_STATUS_TIMEOUT_S", 0.5)
    with running_bot(start_bot(process_env)):
        telegram_sandbox.client.send_message(ADMIN, ADMIN, "/sentry_info")
        reply = telegram_sandbox.client.wait_for_text(ADMIN, "Ни один воркер не ответил", timeout_s=10)
    assert reply["text"].endswith(
        "⚠️ Ни один воркер не ответил за 0,5 с. Запущен ли воркер, который слушает очередь sentry?"
    )
    assert reply["text"].startswith("🤖 Бот: ✅ Sentry инициализирован")


def test_without_a_dsn_the_commands_say_sentry_is_off_and_nothing_fails(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
    worker_settings: Callable[[dict[str, str]], None],
    worker_thread: None,
) -> None:
    env = {**process_env, "SENTRY_DSN": "", "BOT_LANGUAGE": "en"}
    worker_settings(env)
    with running_bot(start_bot(env)):
        assert not sentry_sdk.get_client().dsn
        telegram_sandbox.client.send_message(ADMIN, ADMIN, "/test_sentry")
        report = wait_report(telegram_sandbox)
        telegram_sandbox.client.send_message(ADMIN, ADMIN, "/sentry_info")
        info = telegram_sandbox.client.wait_for_text(ADMIN, "⚙️ Worker", timeout_s=10)

    for test in ("breadcrumbs", "error", "api_error", "division"):
        assert f"❌ {test}: Sentry is off in the worker (SENTRY_DSN is not set), no event sent" in report["text"]
    assert report["text"].endswith(
        "⚠️ Sentry is off: set SENTRY_DSN for the bot and the workers. Nothing is broken; events just go nowhere."
    )
    assert info["text"].startswith("🤖 Bot: ❌ Sentry is not initialised (SENTRY_DSN is not set)")
    assert "❌ SENTRY_DSN is not set" in info["text"]
    assert sentry_sandbox.client.raw_envelopes() == []


def _boom_handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    async def boom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise RuntimeError("price feed returned garbage for AK-47 | Redline")

    return [CommandHandler("boom", boom)]


def test_a_failing_handler_is_reported_and_the_user_gets_the_event_id(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
) -> None:
    with running_bot(start_bot(process_env), extra_handlers=_boom_handlers):
        telegram_sandbox.client.send_message(OTHER, OTHER, "/boom now")
        reply = telegram_sandbox.client.wait_for_text(OTHER, "Код ошибки", timeout_s=10)

    match = re.fullmatch(r"😔 Что-то пошло не так\. Мы уже знаем об этом\. Код ошибки: ([0-9a-f]{32})", reply["text"])
    assert match is not None, reply["text"]
    [event] = sentry_sandbox.client.wait_for_events(lambda e: e["event_id"] == match.group(1), type="event")
    assert event["tags"]["component"] == "telegram"
    assert event["tags"]["command"] == "/boom"
    assert event["payload"]["user"] == {"id": str(OTHER)}
    assert event["payload"]["level"] == "error"
    assert exception_of(event) == ("RuntimeError", "price feed returned garbage for AK-47 | Redline")
