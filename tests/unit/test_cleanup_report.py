"""How a cleanup run reads in the admin chat and the CLI: true labels, titles cut between words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.texts import shorten
from worker.cleanup.policy import IssueFacts, plan
from worker.cleanup.report import preview_lines, telegram_summary
from worker.cleanup.runner import CleanupReport, CleanupRequest, _counts
from worker.sentry_api import ApiStats

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def report_of(facts: list[IssueFacts], request: CleanupRequest) -> CleanupReport:
    decisions = plan(facts, request.criteria(), NOW)
    counts = _counts(decisions, len(facts), {}, ApiStats())
    return CleanupReport(1, "key", "org", "proj", request, "preview", decisions, counts, ApiStats(), 0.1)


def facts(issue_id: str, title: str, status: str, tagged: bool = True) -> IssueFacts:
    return IssueFacts(issue_id, title, status, 0, NOW - timedelta(days=1), tagged, False)


def test_already_resolved_issues_are_not_called_protected() -> None:
    report = report_of(
        [
            facts("1", "Test Error", "unresolved"),
            facts("2", "Test Error", "resolved"),
            facts("3", "Test Error", "resolved"),
        ],
        CleanupRequest(test_only=True),
    )
    text = telegram_summary(report, "en")
    assert "Found: 3, to resolve: 1, protected: 0, already resolved: 2" in text
    assert "Найдено: 3, отметить решёнными: 1, под защитой: 0, уже решены: 2" in telegram_summary(report, "ru")


def test_long_titles_are_cut_between_words_with_an_ellipsis() -> None:
    title = "Test Error"
    long = "ValueError: price feed returned garbage for AK-47 | Redline (Field-Tested) and then the whole band"
    report = report_of(
        [facts("1", long, "unresolved", tagged=True), facts("2", title, "unresolved")], CleanupRequest(test_only=True)
    )
    text = telegram_summary(report, "en")
    bullet = next(line for line in text.splitlines() if line.startswith("• ValueError"))
    assert bullet.endswith("…")
    assert len(bullet) <= 2 + 70
    assert bullet[2:-1] == long[: len(bullet) - 3]
    assert long[len(bullet) - 3] == " "  # the cut falls on a word boundary
    [preview] = [line for line in preview_lines(report) if "ValueError" in line]
    assert "…" in preview  # the CLI's 80 characters are cut the same way


def test_shorten_keeps_short_text_and_never_returns_more_than_the_limit() -> None:
    assert shorten("short", 10) == "short"
    for limit in (5, 10, 40):
        for text in ("a" * 100, "word " * 30, "AssertionError: Test Critical path lock not released"):
            assert len(shorten(text, limit)) <= limit
