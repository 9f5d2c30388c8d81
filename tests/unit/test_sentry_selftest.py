"""/test_sentry as data: argument parsing, event links and the report the worker writes into the chat."""

from __future__ import annotations

import pytest

from bot.handlers.selftest import UnknownTestType, select_tests
from common.contract import TEST_TYPES
from worker.selftest.events import CannotCheck, confirm_delivery
from worker.selftest.report import Delivery, EventOutcome, Failure, event_url, fingerprint, format_report

EVENT_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("args", [[], [""], ["all"], ["ALL"], [" all "]])
def test_no_argument_or_all_runs_every_test_in_order(args: list[str]) -> None:
    assert select_tests(args) == ("breadcrumbs", "error", "api_error", "division")


@pytest.mark.parametrize("test", TEST_TYPES)
def test_a_single_test_runs_alone(test: str) -> None:
    assert select_tests([test]) == (test,)


def test_an_unknown_test_names_the_valid_values() -> None:
    with pytest.raises(
        UnknownTestType, match=r"'crash', expected one of: all, breadcrumbs, error, api_error, division"
    ):
        select_tests(["crash"])


def test_a_second_argument_is_named_as_the_one_not_understood() -> None:
    with pytest.raises(UnknownTestType) as caught:
        select_tests(["error", "twice"])
    assert caught.value.given == "twice"


def test_fingerprints_are_stable_and_distinct_per_test() -> None:
    assert fingerprint("error") == ["test_sentry", "error"]
    assert len({tuple(fingerprint(t)) for t in TEST_TYPES}) == len(TEST_TYPES)


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://sentry.io", f"https://acme.sentry.io/issues/?query={EVENT_ID}"),
        ("https://de.sentry.io/", f"https://acme.sentry.io/issues/?query={EVENT_ID}"),
        ("https://sentry.example.com/", f"https://sentry.example.com/organizations/acme/issues/?query={EVENT_ID}"),
        ("http://127.0.0.1:9000", f"http://127.0.0.1:9000/organizations/acme/issues/?query={EVENT_ID}"),
    ],
)
def test_event_links_follow_saas_and_self_hosted_layouts(api_url: str, expected: str) -> None:
    assert event_url(api_url, "acme", EVENT_ID) == expected


def test_no_organization_means_no_link() -> None:
    assert event_url("https://sentry.io", None, EVENT_ID) is None
    assert event_url("https://sentry.io", "", EVENT_ID) is None


def test_outcomes_survive_the_json_round_trip_of_a_task_result() -> None:
    for outcome in [
        EventOutcome("error", event_id=EVENT_ID, title="ValueError: Test error: x", delivery=Delivery.CONFIRMED),
        EventOutcome("division", failure=Failure.CRASHED, detail="KeyError"),
    ]:
        assert EventOutcome.from_dict(outcome.as_dict()) == outcome


def test_report_lists_each_event_with_its_link_the_trace_and_where_to_search() -> None:
    outcomes = [
        EventOutcome("error", event_id=EVENT_ID, title="ValueError: Test error: x", delivery=Delivery.CONFIRMED),
        EventOutcome("division", failure=Failure.CRASHED, detail="KeyError"),
    ]
    report = format_report(outcomes, "ru", trace_id="f" * 32, organization="acme")
    assert report.splitlines() == [
        "🧪 Тесты Sentry: error, division",
        f"✅ error: доставлено, событие {EVENT_ID} — ValueError: Test error: x",
        f"   https://acme.sentry.io/issues/?query={EVENT_ID}",
        "❌ division: сам тест упал с ошибкой KeyError, подробности в логах воркера",
        "Трасса: " + "f" * 32,
        "В Sentry: Issues → поиск test:true source:test_sentry",
    ]


def test_report_in_english_without_organization_has_no_links() -> None:
    report = format_report([EventOutcome("error", event_id=EVENT_ID, delivery=Delivery.UNCHECKED)], "en")
    assert report.splitlines() == [
        "🧪 Sentry tests: error",
        f"📤 error: sent, event {EVENT_ID} (to check its delivery, set SENTRY_AUTH_TOKEN with project:read)",
        "In Sentry: Issues → search test:true source:test_sentry",
    ]


def test_report_when_sentry_is_off_says_so_and_nothing_else() -> None:
    report = format_report([EventOutcome(t, failure=Failure.SENTRY_OFF) for t in ("error", "division")], "ru")
    assert report.splitlines()[1:] == [
        "❌ error: Sentry выключен в воркере (SENTRY_DSN не задан), событие не отправлено",
        "❌ division: Sentry выключен в воркере (SENTRY_DSN не задан), событие не отправлено",
        "⚠️ Sentry выключен: задайте SENTRY_DSN для бота и воркеров. Ничего не сломано, просто события не уходят.",
    ]


def test_an_event_sentry_never_shows_is_not_confirmed_and_the_report_says_it_may_be_lost() -> None:
    report = format_report(
        [EventOutcome("error", event_id=EVENT_ID, delivery=Delivery.NOT_CONFIRMED)], "en", confirm_timeout_s=15
    )
    assert report.splitlines()[1:3] == [
        f"⚠️ error: sent, but Sentry did not show event {EVENT_ID} within 15 seconds; it may be lost",
        "⚠️ Sentry did not confirm every event: check SENTRY_DSN, Sentry's reachability and the project's limits.",
    ]
    assert "✅" not in report


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_delivery_is_confirmed_per_event_as_sentry_shows_each_within_the_deadline() -> None:
    clock = FakeClock()
    late, never = "1" * 32, "2" * 32
    outcomes = [
        EventOutcome("error", event_id=EVENT_ID),
        EventOutcome("division", event_id=late),
        EventOutcome("api_error", event_id=never),
        EventOutcome("breadcrumbs", failure=Failure.CRASHED, detail="KeyError"),
    ]
    asked: list[str] = []

    def lookup(event_id: str) -> bool:
        asked.append(event_id)
        if event_id == late and clock.now < 3:
            raise OSError("Sentry's API hiccuped")  # not an answer: asked again, within the deadline
        return event_id in (EVENT_ID, late)

    confirmed = confirm_delivery(outcomes, lookup, timeout_s=5, poll_s=1, clock=clock, sleep=clock.sleep)

    assert [o.delivery for o in confirmed] == [Delivery.CONFIRMED, Delivery.CONFIRMED, Delivery.NOT_CONFIRMED, None]
    assert asked.count(EVENT_ID) == 1  # a confirmed event is not asked about again
    assert clock.now <= 5  # bounded by the deadline
    assert [o.ok for o in confirmed] == [True, True, False, False]


def test_without_a_lookup_or_with_one_that_can_never_answer_sent_events_are_unchecked() -> None:
    outcomes = [EventOutcome("error", event_id=EVENT_ID), EventOutcome("division", failure=Failure.NOT_SENT)]

    def refused(event_id: str) -> bool:
        raise CannotCheck("SENTRY_AUTH_TOKEN may not read events")

    for lookup in (None, refused):
        assert [o.delivery for o in confirm_delivery(outcomes, lookup)] == [Delivery.UNCHECKED, None]
