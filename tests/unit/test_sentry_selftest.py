"""/test_sentry as data: argument parsing, event links and the report the worker writes into the chat."""

from __future__ import annotations

import pytest

from bot.handlers.selftest import UnknownTestType, select_tests
from common.contract import TEST_TYPES
from worker.selftest.report import EventOutcome, Failure, event_url, fingerprint, format_report

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
        EventOutcome("error", event_id=EVENT_ID, title="ValueError: Test error: x"),
        EventOutcome("division", failure=Failure.CRASHED, detail="KeyError"),
    ]:
        assert EventOutcome.from_dict(outcome.as_dict()) == outcome


def test_report_lists_each_event_with_its_link_the_trace_and_where_to_search() -> None:
    outcomes = [
        EventOutcome("error", event_id=EVENT_ID, title="ValueError: Test error: x"),
        EventOutcome("division", failure=Failure.CRASHED, detail="KeyError"),
    ]
    report = format_report(outcomes, "ru", trace_id="f" * 32, organization="acme")
    assert report.splitlines() == [
        "🧪 Тесты Sentry: error, division",
        f"✅ error: событие {EVENT_ID} — ValueError: Test error: x",
        f"   https://acme.sentry.io/issues/?query={EVENT_ID}",
        "❌ division: тест сам упал с KeyError, см. логи воркера",
        "Трасса: " + "f" * 32,
        "В Sentry: Issues → поиск test:true source:test_sentry",
    ]


def test_report_in_english_without_organization_has_no_links() -> None:
    report = format_report([EventOutcome("error", event_id=EVENT_ID)], "en")
    assert report.splitlines() == [
        "🧪 Sentry tests: error",
        f"✅ error: event {EVENT_ID}",
        "In Sentry: Issues → search test:true source:test_sentry",
    ]


def test_report_when_sentry_is_off_says_so_and_nothing_else() -> None:
    report = format_report([EventOutcome(t, failure=Failure.SENTRY_OFF) for t in ("error", "division")], "ru")
    assert report.splitlines()[1:] == [
        "❌ error: Sentry выключен в воркере (SENTRY_DSN не задан), событие не отправлено",
        "❌ division: Sentry выключен в воркере (SENTRY_DSN не задан), событие не отправлено",
        "⚠️ Sentry выключен: задайте SENTRY_DSN для бота и воркеров. Ничего не сломано, просто события не уходят.",
    ]
