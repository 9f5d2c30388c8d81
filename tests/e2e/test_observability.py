"""What operators see in Sentry is true: one issue per failure, the guide's trail from the bot's command on,
honest task states and transaction statuses.

Real parts: the production bot polling the Telegram sandbox, a real prefork worker process, the DMarket
sandbox failing on cue, the real sentry-sdk transport into the Sentry sandbox, Redis and the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import select

from common.db.database import Database
from common.db.models import Scan
from common.settings import Settings
from tests.conftest import WorkerProcess
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.bot import running_bot
from tests.support.observed import ADMIN, crumbs, exception_of, transaction_status
from tests.support.redis_server import free_port
from tests.support.tasks import app as celery_app
from tests.support.waiting import wait_until
from worker.app import TaskFailed

USER = 3003  # not an admin: /arbitrage is for everyone
TIMEOUT_S = 30.0


@pytest.fixture
def scan_env(process_env: dict[str, str], dmarket_sandbox: DMarketSandbox, sqlite_database_url: str) -> dict[str, str]:
    return {
        **process_env,
        "DMARKET_API_URL": dmarket_sandbox.url,
        "DMARKET_PUBLIC_KEY": dmarket_sandbox.public_key_hex,
        "DMARKET_SECRET_KEY": dmarket_sandbox.secret_key_hex,
        "DMARKET_MAX_ATTEMPTS": "2",
        "DATABASE_URL": sqlite_database_url,
    }


def scan_of(database_url: str) -> Scan:
    database = Database(database_url)
    try:
        with database.session() as session:
            [scan] = session.scalars(select(Scan)).all()
            return scan
    finally:
        database.dispose()


def no_secret_reached(sentry_sandbox: SentrySandbox, env: dict[str, str], telegram_sandbox: TelegramSandbox) -> None:
    wire = "\n".join(raw["body"] for raw in sentry_sandbox.client.raw_envelopes())
    for name in ("DMARKET_PUBLIC_KEY", "DMARKET_SECRET_KEY", "SENTRY_AUTH_TOKEN", "SENTRY_WEBHOOK_SECRET"):
        assert env[name] not in wire, f"{name} leaked to Sentry"
    assert telegram_sandbox.token.split(":", 1)[1] not in wire, "the bot token leaked to Sentry"


def stranger_keys() -> dict[str, str]:
    """A well-formed keypair DMarket (the sandbox) has never heard of."""
    key = SigningKey.generate()
    return {
        "DMARKET_PUBLIC_KEY": key.verify_key.encode().hex(),
        "DMARKET_SECRET_KEY": key.encode().hex() + key.verify_key.encode().hex(),
    }


# failure, how to cause it, the user's message, exception type, component, level, the task's span status
FAILED_SCANS = [
    pytest.param(
        "dmarket_down",
        lambda sandbox: sandbox.client.fail_next(5, status=503),
        "📡",
        "DMarketAPIError",
        "api",
        "error",
        "unavailable",
        id="dmarket-503",
    ),
    pytest.param(
        "rate_limited",
        lambda sandbox: sandbox.client.throttle_next(5, retry_after_s=1),
        "⏳ DMarket ограничил частоту запросов",
        "RateLimitError",
        "api",
        "warning",
        "resource_exhausted",
        id="429-storm",
    ),
    pytest.param(
        "auth_failed",
        None,
        "🔑",
        "AuthenticationError",
        "api",
        "error",
        "permission_denied",
        id="auth-refused",
    ),
]


@pytest.mark.parametrize(
    ("kind", "cause", "message_start", "exception", "component", "level", "span_status"), FAILED_SCANS
)
def test_a_failed_scan_is_one_issue_with_the_guides_trail_from_the_command_on(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    dmarket_sandbox: DMarketSandbox,
    scan_env: dict[str, str],
    sqlite_database_url: str,
    start_bot: Callable[..., Settings],
    worker_process: Callable[..., WorkerProcess],
    kind: str,
    cause: Callable[[DMarketSandbox], None] | None,
    message_start: str,
    exception: str,
    component: str,
    level: str,
    span_status: str,
) -> None:
    env = {**scan_env, **(stranger_keys() if cause is None else {})}
    worker_process(extra_env=env)
    if cause is not None:
        cause(dmarket_sandbox)
    with running_bot(start_bot(env)):
        telegram_sandbox.client.send_message(USER, USER, "/arbitrage csgo standard")
        [answer] = telegram_sandbox.client.wait_for_bot_messages(
            USER, 1, TIMEOUT_S, predicate=lambda m: m["text"].startswith(message_start)
        )
        [event] = sentry_sandbox.client.wait_for_events(type="event", timeout_s=TIMEOUT_S)
        [command] = sentry_sandbox.client.wait_for_events(
            lambda e: e["payload"]["transaction"] == "/arbitrage", type="transaction", timeout_s=TIMEOUT_S
        )
    [task] = sentry_sandbox.client.wait_for_events(
        lambda e: e["payload"]["transaction"] == "arbitrage.scan", type="transaction", timeout_s=TIMEOUT_S
    )

    # One issue, the original exception, where it failed, at the guide's level; the user's message names it.
    assert len(sentry_sandbox.client.events(type="event")) == 1
    assert len(sentry_sandbox.client.issues()) == 1
    assert exception_of(event)[0] == exception
    assert (event["tags"]["component"], event["payload"]["level"], event["tags"]["failure"]) == (
        component,
        level,
        kind,
    )
    assert event["event_id"] in answer["text"]

    # The guide's trail, in order: the bot's command (with who and where), the scan, its requests, the error.
    trail = crumbs(event)
    assert trail[0] == ("telegram", "Bot command: /arbitrage")
    assert trail[1] == ("trading", "Trading action: arbitrage_scan_started (game: csgo, level: standard)")
    requests = [message for category, message in trail[2:-1] if category == "http"]
    assert requests
    assert all(re.fullmatch(r"API request: GET /exchange/v1/market/items \(\d{3}, \d+ms\)", r) for r in requests)
    assert trail[-1][0] == "error"
    assert trail[-1][1].startswith(f"{exception} - ")
    [telegram] = [c for c in event["payload"]["breadcrumbs"]["values"] if c["category"] == "telegram"]
    assert (telegram["data"]["user_id"], telegram["data"]["chat_id"]) == (USER, USER)

    # Honest states: the command itself went fine; the task failed, and says so to Celery and in its span.
    assert transaction_status(command) == "ok"
    assert transaction_status(task) == span_status
    scan = scan_of(sqlite_database_url)
    result = celery_app.AsyncResult(scan.task_id)
    wait_until(lambda: result.state == "FAILURE", timeout_s=TIMEOUT_S, what="the scan task's FAILURE state")
    assert isinstance(result.result, TaskFailed)
    assert str(result.result).startswith(f"{kind}: {exception}: ")
    outcome: dict[str, Any] = result.result.result
    assert (outcome["failure"], outcome["sentry_event_id"]) == (kind, event["event_id"])
    assert outcome["requests"] == len(requests) == len(dmarket_sandbox.client.requests())
    result.forget()
    no_secret_reached(sentry_sandbox, env, telegram_sandbox)


def test_a_successful_scan_ends_its_trail_with_completed_and_its_task_ok(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    scan_env: dict[str, str],
    start_bot: Callable[..., Settings],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    """A transaction carries no breadcrumbs (sentry-sdk sends them with events only), so the scan's trail is
    read from the one event a completed scan can still cause: Telegram refuses the result for good (a 403
    other than "blocked by the user", which is the user's choice and no event)."""
    worker_process(extra_env=scan_env)
    refusal = "Forbidden: bot is not a member of the supergroup chat"
    telegram_sandbox.client.inject_fault("editMessageText", 403, count=1000, description=refusal)
    with running_bot(start_bot(scan_env)):
        telegram_sandbox.client.send_message(USER, USER, "/arbitrage dota2 pro")
        [event] = sentry_sandbox.client.wait_for_events(type="event", timeout_s=TIMEOUT_S)
    [task] = sentry_sandbox.client.wait_for_events(
        lambda e: e["payload"]["transaction"] == "arbitrage.scan", type="transaction", timeout_s=TIMEOUT_S
    )
    assert transaction_status(task) == "ok"  # the scan did its work; only the message could not be delivered
    assert event["payload"]["logentry"]["message"].startswith("Could not deliver the result of scan task")
    assert (event["tags"]["component"], event["payload"]["level"]) == ("telegram", "error")
    trail = crumbs(event)
    assert trail[0] == ("telegram", "Bot command: /arbitrage")
    assert trail[1] == ("trading", "Trading action: arbitrage_scan_started (game: dota2, level: pro)")
    assert re.fullmatch(r"Trading action: arbitrage_scan_completed \(opportunities: \d+\)", trail[-1][1])
    assert {category for category, _ in trail[2:-1]} == {"http"}


# The command, who sends it, and the status its transaction must end with.
COMMAND_STATUSES = [
    pytest.param("/arbitrage chess", USER, "invalid_argument", id="usage-reply"),
    pytest.param("/cleanup", USER, "permission_denied", id="not-an-admin"),
    pytest.param("/test_sentry everything", ADMIN, "invalid_argument", id="unknown-test"),
    pytest.param("/start", USER, "ok", id="ok"),
]


@pytest.mark.parametrize(("command", "user", "status"), COMMAND_STATUSES)
def test_each_command_transaction_says_how_the_command_ended(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
    command: str,
    user: int,
    status: str,
) -> None:
    name = command.split()[0]
    with running_bot(start_bot(process_env)):
        telegram_sandbox.client.send_message(user, user, command)
        telegram_sandbox.client.wait_for_bot_messages(user, 1, TIMEOUT_S)
        [transaction] = sentry_sandbox.client.wait_for_events(
            lambda e: e["payload"]["transaction"] == name, type="transaction", timeout_s=TIMEOUT_S
        )
    assert transaction_status(transaction) == status


def test_a_command_whose_queue_is_down_ends_unavailable(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    process_env: dict[str, str],
    start_bot: Callable[..., Settings],
) -> None:
    env = {**process_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens there
    with running_bot(start_bot(env)):
        telegram_sandbox.client.send_message(USER, USER, "/arbitrage")
        [reply] = telegram_sandbox.client.wait_for_bot_messages(USER, 1, TIMEOUT_S)
        [transaction] = sentry_sandbox.client.wait_for_events(
            lambda e: e["payload"]["transaction"] == "/arbitrage", type="transaction", timeout_s=TIMEOUT_S
        )
    assert transaction_status(transaction) == "unavailable"
    assert reply["text"].startswith("⚠️ Очередь задач недоступна")
