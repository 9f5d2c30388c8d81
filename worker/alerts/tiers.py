"""Alert tiers as data (DESIGN.md §7, the guide's alert settings section): which alert pages, which is counted.

Pure: an alert's ``level``, ``component`` tag and exception type decide its rule, first match wins. When
Sentry says which of *our* rules fired (``event_alert``'s ``triggered_rule`` is one of the names below),
that rule is taken as it is: Sentry already evaluated it. An alert that matches no rule is not sent
(the router logs it); docs/alerts.md says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.contract import ALERT_LEVELS, AlertTask

# Sentry's level order, most severe first (fatal is the guide's CRITICAL).
_SEVERITY = {level: rank for rank, level in enumerate(reversed(ALERT_LEVELS))}
HOUR_S = 3600


@dataclass(frozen=True)
class TierRule:
    """One row of the tier table. ``threshold``: tier 2 only, alerts an hour above which a digest goes out."""

    name: str
    sentry_name: str  # the issue alert rule's name in Sentry (scripts/sentry_alerts.py creates it)
    tier: int
    emoji: str
    min_level: str | None = None
    component: str | None = None
    exception_type: str | None = None
    resource: str | None = None
    threshold: int | None = None
    window_s: int = HOUR_S

    def matches(self, alert: AlertTask) -> bool:
        if self.resource is not None and alert.resource != self.resource:
            return False
        if self.resource is None and alert.resource == "metric_alert":
            return False  # metric alerts have their own rule: their level is not an event's
        if self.min_level is not None and _SEVERITY[alert.level] < _SEVERITY[self.min_level]:
            return False
        if self.component is not None and (alert.component or "").lower() != self.component:
            return False
        return self.exception_type is None or exception_matches(alert.exception_type, self.exception_type)


def exception_matches(actual: str | None, wanted: str) -> bool:
    """``RateLimitError`` matches ``RateLimitError`` and ``worker.dmarket.errors.RateLimitError``."""
    return actual is not None and (actual == wanted or actual.endswith("." + wanted))


# Order matters: the first rule that matches decides the tier and the emoji.
RULES: tuple[TierRule, ...] = (
    TierRule("metric_alert", "", 1, "📈", resource="metric_alert"),
    TierRule("database_down", "Database down", 1, "🗄️", min_level="fatal", component="database"),
    TierRule("trading_failed", "Trading failed", 1, "💰", min_level="error", component="trading"),
    TierRule("auth_failed", "Auth failed", 1, "🔑", exception_type="AuthenticationError"),
    TierRule("bot_crashed", "Bot crashed", 1, "🚨", min_level="fatal"),
    TierRule("rate_limit", "Rate limit", 2, "⚠️", exception_type="RateLimitError", threshold=5),
    TierRule("api_errors", "API errors spike", 2, "📉", min_level="error", component="api", threshold=10),
)
BY_NAME = {rule.name: rule for rule in RULES}
BY_SENTRY_NAME = {rule.sentry_name: rule for rule in RULES if rule.sentry_name}
COUNTED = tuple(rule for rule in RULES if rule.tier == 2)


def classify(alert: AlertTask) -> TierRule | None:
    """The rule this alert falls under, or None (not sent)."""
    if alert.rule is not None and alert.rule in BY_SENTRY_NAME:
        return BY_SENTRY_NAME[alert.rule]
    return next((rule for rule in RULES if rule.matches(alert)), None)
