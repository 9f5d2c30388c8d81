"""Produce the /test_sentry events: each test in its own isolation scope, inside the task's (the command's) trace.

Breadcrumb messages: the operators' guide prints the expected trail twice, once with the helpers' prefixes
("Trading action: arbitrage_scan_started (game: csgo)", "API request: GET ... (200, 450ms)") and once without
("arbitrage_scan_started (game: csgo, level: standard)"). We send the prefixed form through the shared helpers,
so the test trail looks exactly like the one real scans leave, and the guide's unprefixed text is its suffix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import sentry_sdk

from common.contract import TEST_TYPES
from common.observability.breadcrumbs import (
    add_error_breadcrumb,
    add_http_breadcrumb,
    add_telegram_breadcrumb,
    add_trading_breadcrumb,
    set_component,
)
from worker.selftest.report import (
    API_ERROR_MESSAGE,
    BREADCRUMBS_MESSAGE,
    ERROR_MESSAGE,
    ITEMS_PATH,
    TEST_TAGS,
    EventOutcome,
    Failure,
    fingerprint,
)

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 5.0

# A producer sends one event and returns its id and the title Sentry will show for it.
Producer = Callable[[int], tuple[str | None, str]]


def _scan_trail(user_id: int, status_code: int, duration_ms: int) -> None:
    add_telegram_breadcrumb("/arbitrage", user_id=user_id)
    add_trading_breadcrumb("arbitrage_scan_started", show=("game", "level"), game="csgo", level="standard")
    add_http_breadcrumb("GET", ITEMS_PATH, status_code, duration_ms, show_outcome=True)


def _capture(exc: BaseException) -> tuple[str | None, str]:
    return sentry_sdk.capture_exception(exc), f"{type(exc).__name__}: {exc}"


def _breadcrumbs(user_id: int) -> tuple[str | None, str]:
    _scan_trail(user_id, status_code=200, duration_ms=450)
    add_trading_breadcrumb("arbitrage_scan_completed", show=("opportunities",), opportunities=15)
    # A breadcrumb is only ever visible attached to an event, so the trail ends with one (info: nothing broke).
    return sentry_sdk.capture_message(BREADCRUMBS_MESSAGE, level="info"), BREADCRUMBS_MESSAGE


def _error(user_id: int) -> tuple[str | None, str]:
    try:
        raise ValueError(ERROR_MESSAGE)
    except ValueError as exc:
        return _capture(exc)


def _api_error(user_id: int) -> tuple[str | None, str]:
    _scan_trail(user_id, status_code=429, duration_ms=120)
    add_error_breadcrumb("RateLimitError", "Too many requests", retry_after_s=60)
    set_component("api")
    try:
        raise RuntimeError(API_ERROR_MESSAGE)
    except RuntimeError as exc:
        return _capture(exc)


def _division(user_id: int) -> tuple[str | None, str]:
    divisor = 0
    try:
        _ = 1 / divisor  # the division is the test
    except ZeroDivisionError as exc:
        return _capture(exc)
    raise AssertionError("unreachable: dividing by zero raises")


PRODUCERS: dict[str, Producer] = {
    "breadcrumbs": _breadcrumbs,
    "error": _error,
    "api_error": _api_error,
    "division": _division,
}
assert tuple(PRODUCERS) == TEST_TYPES


def run_test(test: str, user_id: int) -> EventOutcome:
    """Send one test's event with the test tags, the user id and the test's fingerprint."""
    # isolation_scope forks the scopes but keeps the active span, so the event stays in the command's trace
    # while its breadcrumbs and tags stay out of the next test's event.
    with sentry_sdk.isolation_scope() as scope:
        scope.clear_breadcrumbs()
        sentry_sdk.get_current_scope().clear_breadcrumbs()
        for key, value in TEST_TAGS.items():
            scope.set_tag(key, value)
        scope.set_tag("test_type", test)
        scope.set_user({"id": str(user_id)})  # the id only: no names leave the process
        scope.fingerprint = fingerprint(test)
        try:
            event_id, title = PRODUCERS[test](user_id)
        except Exception as exc:
            # ERROR: /test_sentry itself is broken. The log event goes out with the test tags, as it should.
            log.exception("/test_sentry %s failed before sending its event", test)
            return EventOutcome(test, failure=Failure.CRASHED, detail=type(exc).__name__)
    if event_id is None:
        return EventOutcome(test, title=title, failure=Failure.NOT_SENT)
    return EventOutcome(test, event_id=event_id, title=title)


def run_tests(tests: Sequence[str], user_id: int) -> list[EventOutcome]:
    """Run ``tests`` in order and flush, so every event has left the process before anyone is told it was sent."""
    unknown = [test for test in tests if test not in PRODUCERS]
    if unknown:
        raise ValueError(f"unknown Sentry tests {unknown}, expected some of {list(TEST_TYPES)}")
    if not sentry_sdk.get_client().dsn:
        return [EventOutcome(test, failure=Failure.SENTRY_OFF) for test in tests]
    outcomes = [run_test(test, user_id) for test in tests]
    sentry_sdk.flush(timeout=FLUSH_TIMEOUT_S)
    return outcomes


def current_trace_id() -> str | None:
    """The trace this code runs in (the command's, when the task continued it)."""
    traceparent = sentry_sdk.get_traceparent()
    return traceparent.split("-", 1)[0] if traceparent else None
