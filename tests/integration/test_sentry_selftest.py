"""The /test_sentry events and the log-level mapping, through the production Sentry set-up (in-memory transport)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import sentry_sdk

from common.contract import TEST_TYPES
from common.observability.breadcrumbs import add_error_breadcrumb, add_http_breadcrumb, add_trading_breadcrumb
from tests.support.capture import CapturingTransport
from worker.selftest import events as sentry_selftest
from worker.selftest.report import Failure

ADMIN = 1001


def crumbs(event: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.get("category", ""), c.get("message", "")) for c in event.get("breadcrumbs", {}).get("values", [])]


def test_each_test_runs_in_its_own_scope_inside_the_callers_trace(
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    transport = sentry_capture(sentry_traces_sample_rate=1.0)
    sentry_sdk.add_breadcrumb(category="earlier", message="from before the test run")
    with sentry_sdk.start_transaction(name="selftest.run_tests") as transaction:
        outcomes = sentry_selftest.run_tests(TEST_TYPES, ADMIN)
        assert sentry_selftest.current_trace_id() == transaction.trace_id
    sentry_sdk.capture_message("after the test run")
    sentry_sdk.flush()

    events = {e["event_id"]: e for e in transport.items("event")}
    assert [o.test for o in outcomes] == list(TEST_TYPES)
    assert all(o.event_id in events for o in outcomes)
    for outcome in outcomes:
        event = events[outcome.event_id]
        assert event["contexts"]["trace"]["trace_id"] == transaction.trace_id
        assert event["fingerprint"] == ["test_sentry", outcome.test]
        assert event["user"] == {"id": str(ADMIN)}
        assert {"test": "true", "source": "test_sentry", "test_type": outcome.test}.items() <= event["tags"].items()
        # The task's trail so far (in a real run, the command's breadcrumbs from the bot) comes along.
        assert ("earlier", "from before the test run") in crumbs(event)
    by_test = {o.test: events[o.event_id] for o in outcomes}

    def own(event: dict[str, Any]) -> list[tuple[str, str]]:
        return [c for c in crumbs(event) if c[0] in ("trading", "http", "error")]

    # No test's breadcrumbs leak into the next test's event.
    assert own(by_test["error"]) == []
    assert own(by_test["division"]) == []
    assert [c[0] for c in own(by_test["api_error"])] == ["trading", "http", "error"]
    assert {test: event["tags"]["component"] for test, event in by_test.items()} == {
        "breadcrumbs": "trading",
        "error": "trading",
        "api_error": "api",
        "division": "trading",
    }
    # Nothing of the tests stays behind in the caller's scopes.
    [after] = [e for e in events.values() if e.get("message") == "after the test run"]
    assert "test" not in after["tags"]
    assert "fingerprint" not in after
    assert "user" not in after


def test_a_test_that_crashes_is_reported_as_such_and_the_others_still_run(
    sentry_capture: Callable[..., CapturingTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    sentry_capture()

    def broken(grouping: list[str]) -> tuple[str | None, str]:
        raise KeyError("no such fixture")

    monkeypatch.setitem(sentry_selftest.PRODUCERS, "breadcrumbs", broken)
    outcomes = sentry_selftest.run_tests(["breadcrumbs", "division"], ADMIN)
    assert (outcomes[0].failure, outcomes[0].detail) == (Failure.CRASHED, "KeyError")
    assert outcomes[1].event_id is not None


def test_unknown_tests_are_refused_before_anything_is_sent(sentry_capture: Callable[..., CapturingTransport]) -> None:
    transport = sentry_capture()
    with pytest.raises(ValueError, match=r"unknown Sentry tests \['crash'\], expected some of"):
        sentry_selftest.run_tests(["error", "crash"], ADMIN)
    sentry_sdk.flush()
    assert transport.items("event") == []


def test_without_a_dsn_every_test_reports_sentry_off() -> None:
    sentry_sdk.init()  # what init_sentry leaves behind without SENTRY_DSN: a client with no DSN
    outcomes = sentry_selftest.run_tests(TEST_TYPES, ADMIN)
    assert {o.failure for o in outcomes} == {Failure.SENTRY_OFF}


def test_breadcrumb_helpers_write_the_guides_messages_with_the_values_in_data_too(
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    transport = sentry_capture()
    add_trading_breadcrumb("arbitrage_scan_started", show=("game", "level"), game="csgo", level="standard")
    add_http_breadcrumb("GET", "/exchange/v1/market/items", 200, 450)
    add_http_breadcrumb("GET", "/exchange/v1/market/items", None, 10_000)
    add_trading_breadcrumb("arbitrage_scan_completed", show=("opportunities",), opportunities=15, game="csgo")
    add_error_breadcrumb("RateLimitError", "Too many requests", retry_after_s=60)
    sentry_sdk.capture_message("carrier")
    sentry_sdk.flush()
    [event] = transport.items("event")
    guide = [c for c in event["breadcrumbs"]["values"] if c["category"] in {"trading", "http", "error"}]
    assert [c["message"] for c in guide] == [
        "Trading action: arbitrage_scan_started (game: csgo, level: standard)",
        "API request: GET /exchange/v1/market/items (200, 450ms)",
        "API request: GET /exchange/v1/market/items (no response, 10000ms)",
        "Trading action: arbitrage_scan_completed (opportunities: 15)",
        "RateLimitError - Too many requests",
    ]
    assert guide[0]["data"] == {"game": "csgo", "level": "standard"}
    assert guide[1]["data"] == {
        "method": "GET",
        "url": "/exchange/v1/market/items",
        "status_code": 200,
        "duration_ms": 450,
    }
    assert (guide[2]["level"], guide[2]["data"]["status_code"]) == ("warning", None)
    assert guide[3]["data"] == {"opportunities": 15, "game": "csgo"}  # shown or not, every value is searchable
    assert (guide[4]["level"], guide[4]["data"]) == ("error", {"retry_after_s": 60})


def test_log_levels_map_as_the_guide_says(sentry_capture: Callable[..., CapturingTransport]) -> None:
    transport = sentry_capture()
    log = logging.getLogger("tests.levels")
    log.warning("Rate limit approached: 90%")
    log.error("Failed to fetch market data")
    log.critical("Trading failed: lost $1000")
    sentry_sdk.flush()
    levels = {e["logentry"]["message"]: e["level"] for e in transport.items("event")}
    # WARNING is a risk, not an event: it rides along as a breadcrumb. ERROR is an event; CRITICAL is fatal.
    assert levels == {"Failed to fetch market data": "error", "Trading failed: lost $1000": "fatal"}
    [critical] = [e for e in transport.items("event") if e["level"] == "fatal"]
    assert ("tests.levels", "Rate limit approached: 90%") in crumbs(critical)
