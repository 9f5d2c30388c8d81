"""Sentry initialisation through the production code path, with a capturing transport."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
import sentry_sdk

from common.logs import install_redaction
from common.observability.breadcrumbs import add_telegram_breadcrumb
from common.observability.scrubbing import Scrubber
from common.observability.sdk import init_sentry, sentry_status
from sandbox.server import running
from tests.support.capture import CapturingTransport
from tests.support.tasks import fail
from tests.support.waiting import wait_until
from worker.tasks.system import ping

BOT_TOKEN = "7312345678:AAHfakeTokenForTests_0123456789abcdefXY"


def test_without_a_dsn_sentry_is_off_and_nothing_breaks(settings_factory: Callable[..., object]) -> None:
    status = init_sentry(settings_factory(), process="bot")  # type: ignore[arg-type]
    assert status.enabled is False
    assert sentry_status().enabled is False
    assert sentry_sdk.capture_message("ignored") is None


def test_status_names_host_and_project_but_never_the_key(
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    sentry_capture(sentry_dsn="https://abcdef0123456789@o1.ingest.sentry.io/42", sentry_traces_sample_rate=0.1)
    status = sentry_status().as_dict()
    assert status["enabled"]
    assert status["dsn_host"] == "o1.ingest.sentry.io"
    assert status["project_id"] == "42"
    assert status["monitor_beat_tasks"]
    assert "celery" in status["integrations"]
    assert "abcdef0123456789" not in repr(status)


def test_failing_task_reaches_sentry_with_component_environment_and_release(
    sentry_capture: Callable[..., CapturingTransport], worker_thread: None
) -> None:
    transport = sentry_capture(sentry_environment="staging", sentry_release="bot@1.2.3")
    fail.delay("boom from a task")
    events = wait_until(lambda: [e for e in transport.items("event") if e.get("exception")], what="the task's error")
    event = events[0]
    assert event["exception"]["values"][-1]["value"] == "boom from a task"
    assert event["tags"]["component"] == "maintenance"
    assert event["environment"] == "staging"
    assert event["release"] == "bot@1.2.3"


def test_a_bot_transaction_continues_in_the_worker_task(
    sentry_capture: Callable[..., CapturingTransport], worker_thread: None
) -> None:
    transport = sentry_capture(sentry_traces_sample_rate=1.0)
    with sentry_sdk.start_transaction(op="telegram.command", name="/start") as transaction:
        result = ping.delay()
    result.get(timeout=10)
    task_tx = wait_until(
        lambda: [t for t in transport.items("transaction") if t["transaction"] == "system.ping"],
        what="the task's transaction",
    )[0]
    assert task_tx["contexts"]["trace"]["trace_id"] == transaction.trace_id


def test_bot_token_is_scrubbed_from_urls_logs_breadcrumbs_and_events(
    sentry_capture: Callable[..., CapturingTransport], caplog: pytest.LogCaptureFixture
) -> None:
    transport = sentry_capture(telegram_bot_token=BOT_TOKEN, sentry_traces_sample_rate=1.0)
    install_redaction(Scrubber([BOT_TOKEN]))
    logger = logging.getLogger("tests.scrub")

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ok(_: object) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/{path:path}", ok, methods=["POST"])])
    with running(app) as server, sentry_sdk.start_transaction(name="scrub"):
        httpx.post(f"{server.url}/bot{BOT_TOKEN}/sendMessage", json={"text": "hi"})
        logger.info("calling https://api.telegram.org/bot%s/getMe", BOT_TOKEN)
        add_telegram_breadcrumb("/start", user_id=1, url=f"https://api.telegram.org/bot{BOT_TOKEN}/getMe")
        try:
            raise RuntimeError(f"request to /bot{BOT_TOKEN}/sendMessage failed")
        except RuntimeError:
            sentry_sdk.capture_exception()
    sentry_sdk.flush()

    wire = transport.serialized()
    assert transport.items("event")
    assert transport.items("transaction")
    assert BOT_TOKEN.encode() not in wire
    assert BOT_TOKEN.split(":")[1].encode() not in wire
    assert b"bot[Filtered]" in wire
    assert BOT_TOKEN not in caplog.text


def test_database_and_redis_passwords_never_reach_sentry(sentry_capture: Callable[..., CapturingTransport]) -> None:
    """A database error in a task carries the URL, a conninfo string and the settings in its frames' locals."""
    db_password, redis_password = "pg-Secret-9f3a1c", "redis-Secret-77ab"
    database_url = f"postgresql+psycopg://bot:{db_password}@db.internal:5432/bot"
    transport = sentry_capture(database_url=database_url, redis_url=f"redis://:{redis_password}@redis.internal:6379/0")

    def connect(url: str) -> None:
        conninfo = f"host=db.internal user=bot password={db_password} dbname=bot"
        raise ConnectionError(f"could not connect with {conninfo} ({url})")

    try:
        connect(database_url)
    except ConnectionError:
        sentry_sdk.capture_exception()
    logging.getLogger("tests.scrub").error("worker saw redis://:%s@redis.internal:6379/0 fail", redis_password)
    sentry_sdk.flush()

    wire = transport.serialized()
    assert len(transport.items("event")) == 2
    assert db_password.encode() not in wire
    assert redis_password.encode() not in wire
    assert b"password=[Filtered]" in wire
    assert b"bot:[Filtered]@db.internal" in wire
