"""Which failure is which to Sentry, to operators and to alerting: one pure table, used everywhere.

A failure *kind* (what the user's message says) maps to the exception type the one Sentry event carries,
the ``component`` where it failed, the guide's level, the status of the task's transaction and the alert
tier. The alert tiers themselves (DESIGN.md §7) are data too, evaluated on what a Sentry alert says of an
event (level, ``component`` tag, exception type), so the worker that reports a failure and the router that
pages for it agree by construction. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, get_args

# Sentry's levels, least to most severe (the guide's CRITICAL is Sentry's `fatal`).
Level = Literal["debug", "info", "warning", "error", "fatal"]
LEVELS: tuple[Level, ...] = get_args(Level)


def level_at_least(level: str | None, floor: str) -> bool:
    """``level`` is ``floor`` or worse; an unknown level counts as error (Sentry's default)."""
    rank = LEVELS.index(level) if level in LEVELS else LEVELS.index("error")
    return rank >= LEVELS.index(floor)


class Tier(IntEnum):
    """How an alert reaches people: paged at once, counted into the 30-minute digest, or not routed."""

    NONE = 0
    PAGE = 1
    DIGEST = 2


@dataclass(frozen=True)
class AlertRule:
    """One row of DESIGN.md §7: the condition on an event, its tier, and for the digest its threshold."""

    key: str  # stable name: the Redis counter, the rule-as-code name, the message emoji
    title: str  # as the guide names the alert
    emoji: str
    tier: Tier
    level_floor: str | None = None  # the event's level is this or worse
    component: str | None = None  # the event's `component` tag equals this
    exception: str | None = None  # the event's exception type equals this
    more_than_per_hour: int | None = None  # digest rules: fire when the count in the last hour exceeds this

    def matches(self, level: str | None, component: str | None, exception: str | None) -> bool:
        if self.level_floor is not None and not level_at_least(level, self.level_floor):
            return False
        if self.component is not None and component != self.component:
            return False
        return self.exception is None or exception == self.exception


# Order matters: the first rule that matches decides (a fatal database error is "Database down", not
# "Bot crashed"; an AuthenticationError is "Auth failed" whatever its component).
ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule("database_down", "Database Down", "🗄️", Tier.PAGE, level_floor="fatal", component="database"),
    AlertRule("auth_failed", "Auth Failed", "🔑", Tier.PAGE, exception="AuthenticationError"),
    AlertRule("trading_failed", "Trading Failed", "💰", Tier.PAGE, level_floor="error", component="trading"),
    AlertRule("bot_crashed", "Bot Crashed", "🚨", Tier.PAGE, level_floor="fatal"),
    AlertRule("rate_limit", "Rate Limit", "⚠️", Tier.DIGEST, exception="RateLimitError", more_than_per_hour=5),
    AlertRule(
        "api_errors", "API Errors Spike", "📉", Tier.DIGEST, level_floor="error", component="api", more_than_per_hour=10
    ),
)


def alert_rule_for(level: str | None, component: str | None, exception: str | None) -> AlertRule | None:
    """The rule an event falls under, or None: an event no rule matches is not routed to Telegram."""
    return next((rule for rule in ALERT_RULES if rule.matches(level, component, exception)), None)


@dataclass(frozen=True)
class Failure:
    """What one kind of failure is: its Sentry event, its task's transaction status and its alert."""

    kind: str
    component: str
    level: Level
    transaction_status: str  # Sentry span status; never "ok" for a failure
    raised_by: str = ""  # the exception types that end this way, for the table in docs/observability.md

    def fingerprint(self, exception_type: str) -> list[str]:
        """One issue per cause: the same kind with the same exception type groups together, wherever it struck."""
        return ["failure", self.kind, exception_type]

    def alert(self, exception_type: str) -> AlertRule | None:
        return alert_rule_for(self.level, self.component, exception_type)


# The scan's failure kinds (worker/arbitrage/messages.py has the user's sentence for each).
FAILURES: dict[str, Failure] = {
    # DMarket kept answering 429 past the attempt budget: a risk (tier 2 digest), not a broken feature.
    "rate_limited": Failure("rate_limited", "api", "warning", "resource_exhausted", "RateLimitError"),
    # DMarket holds the key back for minutes or hours (a 429 with a long Retry-After): every scan fails until
    # then, so operators are paged at once and may lift it (scripts/dmarket_hold.py).
    "dmarket_held": Failure("dmarket_held", "api", "error", "resource_exhausted", "DMarketHeld, long RateLimitError"),
    # Our own shared budget was fully booked: nothing was asked of DMarket.
    "busy": Failure("busy", "trading", "warning", "resource_exhausted", "RateBudgetExhausted"),
    "auth_failed": Failure("auth_failed", "api", "error", "permission_denied", "AuthenticationError"),
    "not_configured": Failure("not_configured", "trading", "error", "failed_precondition", "DMarketNotConfigured"),
    "dmarket_down": Failure("dmarket_down", "api", "error", "unavailable", "DMarketAPIError (5xx), DMarketUnreachable"),
    "timeout": Failure("timeout", "trading", "error", "deadline_exceeded", "SoftTimeLimitExceeded"),
    # Still unreachable after the retries that span a realistic outage: the database is down (page at once).
    "database": Failure("database", "database", "fatal", "unavailable", "SQLAlchemyError (OperationalError, ...)"),
    # Started too often without finishing, or found abandoned by the janitor: work was lost somewhere.
    "interrupted": Failure("interrupted", "trading", "error", "aborted", "ScanInterrupted"),
    "internal": Failure("internal", "trading", "error", "internal_error", "anything else (a bug)"),
}


# A Sentry cleanup run (beat's or /cleanup's) that failed for good.
CLEANUP_FAILURES: dict[str, Failure] = {
    # Sentry's Web API failed the run (5xx, unreachable, refused): the API's error, as for DMarket.
    "cleanup_api": Failure(
        "cleanup_api", "api", "error", "unavailable", "SentryApiError (SentryServerError, SentryAuthError, ...)"
    ),
    # SENTRY_AUTH_TOKEN / SENTRY_ORGANIZATION / SENTRY_PROJECT missing.
    "cleanup_not_configured": Failure(
        "cleanup_not_configured", "maintenance", "error", "failed_precondition", "SentryApiNotConfigured"
    ),
    # Another run held the project's lock for longer than this run's retries.
    "cleanup_lock_busy": Failure("cleanup_lock_busy", "maintenance", "warning", "resource_exhausted", "LockHeld"),
    # The database stayed unreachable through the retries that span a realistic outage ("Database down").
    "cleanup_database": Failure("cleanup_database", "database", "fatal", "unavailable", "SQLAlchemyError"),
    # Anything else that ended the run as failed.
    "cleanup_failed": Failure("cleanup_failed", "maintenance", "error", "internal_error", "RuntimeError"),
}


def failure(kind: str) -> Failure:
    """The table's row for ``kind`` (a scan's or a cleanup's)."""
    found = FAILURES.get(kind) or CLEANUP_FAILURES.get(kind)
    if found is None:
        raise ValueError(f"unknown failure kind {kind!r}, expected one of {sorted({*FAILURES, *CLEANUP_FAILURES})}")
    return found


def failure_table() -> str:
    """The mapping as the Markdown table docs/observability.md shows (a test keeps the two the same)."""
    rows = [
        "| failure kind | exception | component | level | task span status | alert |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in (*FAILURES.values(), *CLEANUP_FAILURES.values()):
        exception = row.raised_by.split(" ", 1)[0].rstrip(",")
        rule = row.alert(exception)
        alert = f"{rule.emoji} {rule.title} (tier {int(rule.tier)})" if rule else "none"
        rows.append(
            f"| `{row.kind}` | {row.raised_by} | `{row.component}` | {row.level} | `{row.transaction_status}` "
            f"| {alert} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(failure_table())
