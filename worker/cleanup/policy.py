"""Which Sentry issues a cleanup may touch, and why the others are protected. Pure: no I/O, ``now`` injected.

The safety rules (DESIGN.md §6) hold whatever the flags: an issue with comments, an unresolved issue
that is not a test issue, and a production issue that is not a test issue are never acted on. When a
fact is unknown (no ``numComments``, production membership not looked up), the issue is protected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from common.contract import MAX_OLD_DAYS
from worker.selftest.report import SELFTEST_TITLE_SEARCH_TERMS, SELFTEST_TITLES

# Every /test_sentry event carries these tags (DESIGN.md §5); they are the reliable mark of a test issue.
TEST_TAG_KEY, TEST_TAG_VALUE = "test", "true"
TEST_TAG_QUERY = f"{TEST_TAG_KEY}:{TEST_TAG_VALUE}"

# Titles that mark a test issue even without the tag, matched as the WHOLE title, never as a part of it:
# the legacy script's "Test Error"/"Test Critical" (also as an exception message, "Exception: Test Error"),
# and exactly the titles /test_sentry's events get (worker/selftest/report.py). A real bug whose title merely
# contains such words ("AssertionError: Test Critical path lock not released") is not a test issue.
# /test_sentry's ZeroDivisionError looks exactly like a real one, so it is recognised by its tag only.
LEGACY_TEST_TITLE = re.compile(r"^(?:[A-Za-z_][\w.]*: )?Test (?:Error|Critical)$")
KNOWN_TEST_TITLES: frozenset[str] = SELFTEST_TITLES
# Free-text searches that find every title the rules above accept (Sentry matches them case-insensitively
# as substrings); the exact rules then decide.
TITLE_SEARCH_TERMS: tuple[str, ...] = ("Test Error", "Test Critical", *SELFTEST_TITLE_SEARCH_TERMS)

RESOLVED = "resolved"


class Action(StrEnum):
    RESOLVE = "resolve"
    DELETE = "delete"


class Protection(StrEnum):
    """Why a selected issue is left alone, in the order the rules are checked."""

    COMMENTS_UNKNOWN = "comments_unknown"
    HAS_COMMENTS = "has_comments"
    UNRESOLVED_NOT_TEST = "unresolved_not_test"
    PRODUCTION_NOT_TEST = "production_not_test"
    ALREADY_RESOLVED = "already_resolved"
    OVER_MAX = "over_max"
    GONE = "gone"  # no longer in Sentry when the run looked again, right before acting
    NO_LONGER_SELECTED = "no_longer_selected"  # looked at again: no longer matches (seen recently, retitled)


PROTECTION_TEXT = {
    Protection.COMMENTS_UNKNOWN: "comment count unknown",
    Protection.HAS_COMMENTS: "has comments",
    Protection.UNRESOLVED_NOT_TEST: "unresolved and not a test issue",
    Protection.PRODUCTION_NOT_TEST: "production issue and not a test issue",
    Protection.ALREADY_RESOLVED: "already resolved",
    Protection.OVER_MAX: "over the --max cap for this run",
    Protection.GONE: "no longer in Sentry",
    Protection.NO_LONGER_SELECTED: "no longer matches the selection",
}


class PolicyError(ValueError):
    """The criteria are not a valid cleanup (a usage error: the message says what is expected)."""


def check_environment(environment: str | None) -> None:
    """PolicyError for an empty environment name: Sentry would read ``environment=`` as "no environment"."""
    if environment is not None and not environment.strip():
        raise PolicyError(f"--environment takes the name of a Sentry environment (e.g. staging), got {environment!r}")


@dataclass(frozen=True)
class Criteria:
    """What the operator asked for: which issues (test-only, older than N days) and what to do."""

    test_only: bool = False
    older_than_days: int | None = None
    delete: bool = False
    max_actions: int | None = None

    def __post_init__(self) -> None:
        if not self.test_only and self.older_than_days is None:
            raise PolicyError("choose which issues to clean: --test-only, --old N, or both")
        if self.older_than_days is not None and not 1 <= self.older_than_days <= MAX_OLD_DAYS:
            raise PolicyError(f"--old takes a number of days from 1 to {MAX_OLD_DAYS}, got {self.older_than_days}")
        if self.max_actions is not None and self.max_actions < 1:
            raise PolicyError(f"--max takes a number of issues >= 1, got {self.max_actions}")

    @property
    def action(self) -> Action:
        return Action.DELETE if self.delete else Action.RESOLVE

    def describe(self) -> str:
        parts = []
        if self.test_only:
            parts.append("test issues")
        if self.older_than_days is not None:
            parts.append(f"last seen more than {self.older_than_days} days ago")
        return " and ".join(parts)


@dataclass(frozen=True)
class IssueFacts:
    """What the policy knows about one issue. ``None`` means the fact could not be established."""

    id: str
    title: str
    status: str
    num_comments: int | None
    last_seen: datetime | None
    tagged_test: bool
    in_production: bool | None

    @property
    def is_test(self) -> bool:
        """Tagged test=true; or a known test title, but only where production is ruled out.

        In production the tag is the only proof: a title can be shared by a real bug, and deleting a real
        production issue is the one mistake the cleanup must never make (DESIGN.md §6).
        """
        return self.tagged_test or (has_test_title(self.title) and self.in_production is False)


@dataclass(frozen=True)
class Decision:
    """For one selected issue: the action to take, or the rule that protects it (exactly one is set)."""

    issue: IssueFacts
    action: Action | None
    protected_by: Protection | None

    @property
    def acts(self) -> bool:
        return self.action is not None

    @property
    def explanation(self) -> str:
        return self.action.value if self.action else PROTECTION_TEXT[self.protected_by or Protection.HAS_COMMENTS]


def has_test_title(title: str) -> bool:
    return title in KNOWN_TEST_TITLES or LEGACY_TEST_TITLE.match(title) is not None


def parse_timestamp(value: Any) -> datetime | None:
    """Sentry's ISO 8601 timestamps (``...Z``) as aware datetimes; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None  # a naive time cannot be compared safely


def facts_from_api(issue: Mapping[str, Any], *, tagged_test: bool, in_production: bool | None) -> IssueFacts:
    """IssueFacts from one issue of Sentry's list response plus what the tag/environment searches said."""
    comments = issue.get("numComments")
    return IssueFacts(
        id=str(issue["id"]),
        title=str(issue.get("title") or ""),
        status=str(issue.get("status") or "unknown"),
        num_comments=comments if isinstance(comments, int) and not isinstance(comments, bool) else None,
        last_seen=parse_timestamp(issue.get("lastSeen")),
        tagged_test=tagged_test,
        in_production=in_production,
    )


def is_selected(issue: IssueFacts, criteria: Criteria, now: datetime) -> bool:
    """Whether the issue matches what was asked for (before any protection applies)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if criteria.test_only and not issue.is_test:
        return False
    if criteria.older_than_days is not None:
        if issue.last_seen is None:
            return False
        if not issue.last_seen < now - timedelta(days=criteria.older_than_days):
            return False
    return True


def protection(issue: IssueFacts, criteria: Criteria) -> Protection | None:
    """The first rule that protects a selected issue, or None when it may be acted on."""
    if issue.num_comments is None:
        return Protection.COMMENTS_UNKNOWN
    if issue.num_comments > 0:
        return Protection.HAS_COMMENTS
    if not issue.is_test:
        # Ignored (archived) issues are not resolved either: they count as unresolved here.
        if issue.status != RESOLVED:
            return Protection.UNRESOLVED_NOT_TEST
        if issue.in_production is not False:
            return Protection.PRODUCTION_NOT_TEST
    if criteria.action is Action.RESOLVE and issue.status == RESOLVED:
        return Protection.ALREADY_RESOLVED
    return None


def decide(issue: IssueFacts, criteria: Criteria, now: datetime) -> Decision | None:
    """The decision for one issue, or None when the issue is not selected at all."""
    if not is_selected(issue, criteria, now):
        return None
    rule = protection(issue, criteria)
    return Decision(issue, None if rule else criteria.action, rule)


def _oldest_first(decision: Decision) -> tuple[int, datetime | None, str]:
    seen = decision.issue.last_seen
    return (seen is None, seen, decision.issue.id.zfill(20))


def plan(issues: Iterable[IssueFacts], criteria: Criteria, now: datetime) -> list[Decision]:
    """Decisions for the selected issues, oldest first; past ``max_actions`` actions, the rest wait."""
    decisions = sorted(
        (d for d in (decide(issue, criteria, now) for issue in _unique(issues)) if d is not None),
        key=_oldest_first,
    )
    if criteria.max_actions is None:
        return decisions
    capped, acting = [], 0
    for decision in decisions:
        if decision.acts:
            acting += 1
            if acting > criteria.max_actions:
                decision = Decision(decision.issue, None, Protection.OVER_MAX)
        capped.append(decision)
    return capped


def _unique(issues: Iterable[IssueFacts]) -> Iterable[IssueFacts]:
    seen: set[str] = set()
    for issue in issues:
        if issue.id not in seen:
            seen.add(issue.id)
            yield issue
