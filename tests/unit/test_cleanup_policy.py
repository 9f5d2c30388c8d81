"""The cleanup policy: which issues a run may touch, and the rules that protect the others (DESIGN.md §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.cleanup.policy import (
    Action,
    Criteria,
    IssueFacts,
    PolicyError,
    Protection,
    decide,
    facts_from_api,
    has_test_title,
    plan,
)
from worker.selftest.report import BREADCRUMBS_MESSAGE, ERROR_MESSAGE, LEGACY_API_ERROR_MESSAGE

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def issue(
    issue_id: str = "1",
    title: str = "KeyError: 'price'",
    status: str = "unresolved",
    num_comments: int | None = 0,
    age_days: float | None = 1,
    tagged_test: bool = False,
    in_production: bool | None = False,
) -> IssueFacts:
    last_seen = None if age_days is None else NOW - timedelta(days=age_days)
    return IssueFacts(issue_id, title, status, num_comments, last_seen, tagged_test, in_production)


@pytest.mark.parametrize(
    ("title", "is_test"),
    [
        ("Test Error", True),
        ("Test Critical", True),
        ("Exception: Test Error", True),
        ("ValueError: Test error: raised on purpose by /test_sentry to check error reporting", True),
        (f"RuntimeError: {LEGACY_API_ERROR_MESSAGE}", True),
        (BREADCRUMBS_MESSAGE, True),
        # Whole titles only: test words inside a longer title are a real bug's words.
        ("AssertionError: Test Critical path lock not released", False),
        ("Test Critical: disk full (test)", False),
        ("Exception: Test Error from the legacy script", False),
        ("RuntimeError: API Rate Limit: DMarket answered 429 to GET /exchange/v1/market/items", False),
        # A real division by zero looks exactly like /test_sentry's: only the tag may say it is a test.
        ("ZeroDivisionError: division by zero", False),
        ("RateLimitError: Too many requests", False),
        ("ValueError: Test errors are not this", False),
        ("KeyError: Test Error", True),
        ("Unit Test Error budget exceeded", False),
    ],
)
def test_known_test_titles_are_recognised_exactly(title: str, is_test: bool) -> None:
    assert has_test_title(title) is is_test


def test_a_tagged_test_issue_is_resolved_even_in_production() -> None:
    decision = decide(issue(tagged_test=True, in_production=True), Criteria(test_only=True), NOW)
    assert decision is not None
    assert decision.action is Action.RESOLVE
    assert decision.protected_by is None


def test_a_test_issue_with_comments_is_protected_even_from_delete() -> None:
    decision = decide(issue(tagged_test=True, num_comments=2), Criteria(test_only=True, delete=True), NOW)
    assert decision is not None
    assert decision.action is None
    assert decision.protected_by is Protection.HAS_COMMENTS
    assert decision.explanation == "has comments"


def test_old_issues_are_selected_strictly_by_last_seen_in_utc() -> None:
    criteria = Criteria(older_than_days=30, delete=True)
    assert decide(issue(age_days=29.99, status="resolved"), criteria, NOW) is None
    assert decide(issue(age_days=None, status="resolved"), criteria, NOW) is None
    old = decide(issue(age_days=30.01, status="resolved"), criteria, NOW)
    assert old is not None
    assert old.action is Action.DELETE


def test_old_non_test_issues_are_protected_unless_resolved_outside_production() -> None:
    criteria = Criteria(older_than_days=30, delete=True)
    rules = {
        status_env: decide(issue(age_days=40, status=status_env[0], in_production=status_env[1]), criteria, NOW)
        for status_env in [("unresolved", False), ("ignored", False), ("resolved", True), ("resolved", None)]
    }
    assert {k: d.protected_by if d else None for k, d in rules.items()} == {
        ("unresolved", False): Protection.UNRESOLVED_NOT_TEST,
        ("ignored", False): Protection.UNRESOLVED_NOT_TEST,  # archived is not resolved
        ("resolved", True): Protection.PRODUCTION_NOT_TEST,
        ("resolved", None): Protection.PRODUCTION_NOT_TEST,  # not looked up: assume production
    }


def test_resolve_skips_issues_already_resolved() -> None:
    decision = decide(issue(tagged_test=True, status="resolved"), Criteria(test_only=True), NOW)
    assert decision is not None
    assert decision.protected_by is Protection.ALREADY_RESOLVED


def test_unknown_comment_count_protects() -> None:
    facts = facts_from_api(
        {"id": "7", "title": "Test Error", "status": "unresolved", "lastSeen": "2026-03-01T00:00:00.000Z"},
        tagged_test=True,
        in_production=None,
    )
    decision = decide(facts, Criteria(test_only=True), NOW)
    assert decision is not None
    assert decision.protected_by is Protection.COMMENTS_UNKNOWN


def test_facts_from_api_read_sentry_timestamps_as_utc() -> None:
    facts = facts_from_api(
        {"id": 9, "title": "x", "status": "resolved", "numComments": 0, "lastSeen": "2026-01-31T23:59:59.123Z"},
        tagged_test=False,
        in_production=False,
    )
    assert facts.id == "9"
    assert facts.last_seen == datetime(2026, 1, 31, 23, 59, 59, 123000, tzinfo=UTC)


def test_max_caps_the_actions_oldest_first() -> None:
    issues = [issue(str(i), tagged_test=True, age_days=i) for i in range(1, 6)]
    decisions = plan(issues, Criteria(test_only=True, max_actions=2), NOW)
    assert [d.issue.id for d in decisions if d.acts] == ["5", "4"]
    assert [d.protected_by for d in decisions if not d.acts] == [Protection.OVER_MAX] * 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "choose which issues"),
        ({"delete": True}, "choose which issues"),
        ({"older_than_days": 0}, "--old takes a number of days from 1 to 3650"),
        ({"test_only": True, "max_actions": 0}, "--max takes a number"),
    ],
)
def test_invalid_criteria_say_what_is_expected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Criteria(**kwargs)  # type: ignore[arg-type]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(issue(), Criteria(test_only=True), datetime(2026, 1, 1))  # noqa: DTZ001 - the naive time is the point


# ---- properties over random issue sets ---------------------------------------------------------------

TITLES = [
    "Test Error",
    "Test Critical",
    f"ValueError: {ERROR_MESSAGE}",
    f"RuntimeError: {LEGACY_API_ERROR_MESSAGE}",
    "AssertionError: Test Critical path lock not released",
    "ZeroDivisionError: division by zero",
    "KeyError: 'price'",
    "RateLimitError: Too many requests",
]
issues_strategy = st.lists(
    st.builds(
        IssueFacts,
        id=st.integers(1, 10**6).map(str),
        title=st.sampled_from(TITLES),
        status=st.sampled_from(["unresolved", "resolved", "ignored"]),
        num_comments=st.one_of(st.none(), st.integers(0, 3)),
        last_seen=st.one_of(st.none(), st.integers(0, 120 * 24).map(lambda h: NOW - timedelta(hours=h))),
        tagged_test=st.booleans(),
        in_production=st.one_of(st.none(), st.booleans()),
    ),
    max_size=60,
)


@st.composite
def criteria_strategy(draw: st.DrawFn) -> Criteria:
    """Every flag combination the CLI accepts (a selection is required: test-only, old N, or both)."""
    older = draw(st.one_of(st.none(), st.integers(1, 90)))
    test_only = draw(st.booleans()) if older is not None else True
    max_actions = draw(st.one_of(st.none(), st.integers(1, 20)))
    return Criteria(test_only=test_only, older_than_days=older, delete=draw(st.booleans()), max_actions=max_actions)


@settings(max_examples=200, deadline=None)
@given(issues=issues_strategy, criteria=criteria_strategy())
def test_protected_issues_are_never_acted_on_whatever_the_flags(issues: list[IssueFacts], criteria: Criteria) -> None:
    for decision in plan(issues, criteria, NOW):
        facts = decision.issue
        assert (decision.action is None) != (decision.protected_by is None)
        if not decision.acts:
            continue
        is_test = facts.tagged_test or has_test_title(facts.title)
        assert facts.num_comments == 0, "an issue with comments (or an unknown count) was acted on"
        # In production only the tag proves a test issue: a title can be shared by a real bug.
        assert facts.tagged_test or facts.in_production is False, "an untagged production issue was acted on"
        assert is_test or facts.status == "resolved", "an unresolved real issue was acted on"
        assert is_test or facts.in_production is False, "a production real issue was acted on"
        assert decision.action is (Action.DELETE if criteria.delete else Action.RESOLVE)
        if criteria.test_only:
            assert is_test
        if criteria.older_than_days is not None:
            assert facts.last_seen is not None
            assert facts.last_seen < NOW - timedelta(days=criteria.older_than_days)


@settings(max_examples=200, deadline=None)
@given(issues=issues_strategy, criteria=criteria_strategy())
def test_every_selected_issue_gets_one_decision_and_the_cap_holds(issues: list[IssueFacts], criteria: Criteria) -> None:
    decisions = plan(issues, criteria, NOW)
    ids = [d.issue.id for d in decisions]
    assert len(ids) == len(set(ids))
    if criteria.max_actions is not None:
        assert sum(d.acts for d in decisions) <= criteria.max_actions


# ---- the bot's /cleanup arguments -----------------------------------------------------------------------


@pytest.mark.parametrize("words", [["old", "²"], ["old", "٣٠"], ["old", "3651"], ["old", "0"], ["soon"]])
def test_cleanup_command_arguments_that_do_not_fit_are_usage_errors(words: list[str]) -> None:
    from bot.arguments import UsageError
    from bot.handlers.cleanup import parse_arguments

    with pytest.raises(UsageError) as caught:
        parse_arguments(words)
    assert caught.value.value == words[-1]


def test_old_without_a_number_says_the_number_is_missing() -> None:
    from bot.arguments import UsageError
    from bot.handlers.cleanup import parse_arguments

    with pytest.raises(UsageError) as caught:
        parse_arguments(["old"])
    assert caught.value.value is None
    assert caught.value.after == "old"


def test_cleanup_command_arguments_in_any_order_and_case() -> None:
    from bot.handlers.cleanup import CleanupChoice, parse_arguments

    assert parse_arguments(["RUN", "delete", "Old", "3650"]) == CleanupChoice(False, 3650, True, True)
    assert parse_arguments([]) == CleanupChoice(True, None, False, False)


def test_the_usage_reply_echoes_a_shortened_unknown_argument() -> None:
    from bot.handlers.cleanup import usage

    reply = usage("en", "x" * 500)
    assert reply.startswith("I do not know “" + "x" * 39 + "…”.")
    assert "Usage: /cleanup" in reply


def test_old_is_bounded_in_the_policy() -> None:
    from worker.cleanup.policy import MAX_OLD_DAYS

    assert Criteria(older_than_days=MAX_OLD_DAYS).older_than_days == 3650
    with pytest.raises(PolicyError, match="from 1 to 3650"):
        Criteria(older_than_days=MAX_OLD_DAYS + 1)
