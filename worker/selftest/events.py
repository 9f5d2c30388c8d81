"""Produce the /test_sentry events as real failures produce theirs, then check that Sentry has them.

Each test goes through the helpers real code uses: the breadcrumb helpers (so its trail reads as a scan's,
after the command's own breadcrumbs carried over from the bot), the DMarket client's exception types, the
real endpoint, and ``capture_failure`` with the failure table's component and level. So a test event
exercises the alert rules it is meant to prove. What marks it as a test: the tags ``test=true
source=test_sentry`` (the cleanup matches on them, the alert router labels it) and a fingerprint of its own,
so a test never joins a real issue.

Sending is not delivering: after the flush, each event is looked up through the Web API until Sentry shows
it or a deadline passes, and the report says which (``Delivery``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import sentry_sdk

from common.contract import TEST_TYPES
from common.observability.breadcrumbs import add_error_breadcrumb, add_http_breadcrumb, add_trading_breadcrumb
from common.observability.failures import FAILURES
from common.observability.sdk import capture_failure
from worker.dmarket.client import MARKET_ITEMS_PATH
from worker.dmarket.errors import RateLimitError
from worker.selftest.report import (
    BREADCRUMBS_MESSAGE,
    ERROR_MESSAGE,
    TEST_TAGS,
    Delivery,
    EventOutcome,
    Failure,
    fingerprint,
)

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 5.0
CONFIRM_TIMEOUT_S = 15.0
CONFIRM_POLL_S = 1.0
TEST_RETRY_AFTER_S = 60

# A producer sends one event and returns its id and the title Sentry will show for it.
Producer = Callable[[list[str]], tuple[str | None, str]]
# Does Sentry have this event yet? (True/False; CannotCheck if it never will say, anything else: not yet.)
Lookup = Callable[[str], bool]


class CannotCheck(Exception):
    """The lookup can never answer (e.g. the token lacks the scope): the events stay UNCHECKED."""


def _scan_started(status_code: int, duration_ms: int) -> None:
    add_trading_breadcrumb("arbitrage_scan_started", show=("game", "level"), game="csgo", level="standard")
    add_http_breadcrumb("GET", MARKET_ITEMS_PATH, status_code, duration_ms)


def _title(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _breadcrumbs(grouping: list[str]) -> tuple[str | None, str]:
    _scan_started(status_code=200, duration_ms=450)
    add_trading_breadcrumb("arbitrage_scan_completed", show=("opportunities",), opportunities=15)
    # A breadcrumb is only ever visible attached to an event, so the trail ends with one (info: nothing broke).
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("component", "trading")
        scope.fingerprint = grouping
        return sentry_sdk.capture_message(BREADCRUMBS_MESSAGE, level="info"), BREADCRUMBS_MESSAGE


def _error(grouping: list[str]) -> tuple[str | None, str]:
    # A bug in scan logic, as the scan reports one: component=trading, level error.
    try:
        raise ValueError(ERROR_MESSAGE)
    except ValueError as exc:
        return capture_failure(exc, FAILURES["internal"], fingerprint=grouping), _title(exc)


def _api_error(grouping: list[str]) -> tuple[str | None, str]:
    # What a scan that ran into DMarket's rate limit reports: the same breadcrumbs, exception and tags.
    _scan_started(status_code=429, duration_ms=120)
    add_error_breadcrumb("RateLimitError", "Too many requests", retry_after_s=TEST_RETRY_AFTER_S)
    try:
        raise RateLimitError(TEST_RETRY_AFTER_S)
    except RateLimitError as exc:
        return capture_failure(exc, FAILURES["rate_limited"], fingerprint=grouping), _title(exc)


def _division(grouping: list[str]) -> tuple[str | None, str]:
    divisor = 0
    try:
        _ = 1 / divisor  # the division is the test
    except ZeroDivisionError as exc:
        return capture_failure(exc, FAILURES["internal"], fingerprint=grouping), _title(exc)
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
    # isolation_scope forks the task's scopes: the event keeps the command's trail (replayed from the bot)
    # and stays in the command's trace, while this test's breadcrumbs and tags stay out of the next one's.
    with sentry_sdk.isolation_scope() as scope:
        for key, value in TEST_TAGS.items():
            scope.set_tag(key, value)
        scope.set_tag("test_type", test)
        scope.set_user({"id": str(user_id)})  # the id only: no names leave the process
        try:
            event_id, title = PRODUCERS[test](fingerprint(test))
        except Exception as exc:
            # ERROR: /test_sentry itself is broken. The log event goes out with the test tags, as it should.
            log.exception("/test_sentry %s failed before sending its event", test)
            return EventOutcome(test, failure=Failure.CRASHED, detail=type(exc).__name__)
    if event_id is None:
        return EventOutcome(test, title=title, failure=Failure.NOT_SENT)
    return EventOutcome(test, event_id=event_id, title=title)


def run_tests(tests: Sequence[str], user_id: int) -> list[EventOutcome]:
    """Run ``tests`` in order and flush, so every event has left the process before it is looked for."""
    unknown = [test for test in tests if test not in PRODUCERS]
    if unknown:
        raise ValueError(f"unknown Sentry tests {unknown}, expected some of {list(TEST_TYPES)}")
    if not sentry_sdk.get_client().dsn:
        return [EventOutcome(test, failure=Failure.SENTRY_OFF) for test in tests]
    outcomes = [run_test(test, user_id) for test in tests]
    sentry_sdk.flush(timeout=FLUSH_TIMEOUT_S)
    return outcomes


def confirm_delivery(
    outcomes: Sequence[EventOutcome],
    lookup: Lookup | None,
    timeout_s: float = CONFIRM_TIMEOUT_S,
    poll_s: float = CONFIRM_POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[EventOutcome]:
    """Each sent event marked CONFIRMED once Sentry shows it, NOT_CONFIRMED if it did not within ``timeout_s``.

    Without a ``lookup`` (no Web API credentials), or one that raises CannotCheck, a sent event is UNCHECKED:
    sent, and nothing more is known. Any other failure of the lookup (Sentry's API down or hung) counts as
    "not yet", so the deadline still bounds it.
    """
    unchecked = [replace(o, delivery=Delivery.UNCHECKED) if o.event_id else o for o in outcomes]
    if lookup is None:
        return unchecked
    pending = {o.event_id for o in outcomes if o.event_id}
    confirmed: set[str] = set()
    deadline = clock() + timeout_s
    while pending:
        for event_id in sorted(pending):
            try:
                found = lookup(event_id)
            except CannotCheck as exc:
                log.warning("Cannot check the delivery of test events: %s", exc)
                return unchecked
            except Exception as exc:  # the answer is "not confirmed", with the reason in the log
                log.warning("Could not look up test event %s in Sentry: %s", event_id, exc)
                found = False
            if found:
                confirmed.add(event_id)
        pending -= confirmed
        if not pending or clock() + poll_s > deadline:
            break
        sleep(poll_s)
    return [
        replace(o, delivery=Delivery.CONFIRMED if o.event_id in confirmed else Delivery.NOT_CONFIRMED)
        if o.event_id
        else o
        for o in outcomes
    ]


def current_trace_id() -> str | None:
    """The trace this code runs in (the command's, when the task continued it)."""
    traceparent = sentry_sdk.get_traceparent()
    return traceparent.split("-", 1)[0] if traceparent else None
