"""The six issue alert rules of DESIGN.md §7 as Sentry rule bodies, and the diff against what a project has. Pure.

Built from the tier table (worker/alerts/tiers.py), so the rules in Sentry and the router's tiers cannot
drift apart. What Sentry cannot express: an issue alert rule counts events *per issue*, so "more than 5
RateLimitErrors an hour" across many issues is beyond it; its rule fires per noisy issue, and the router's
sliding-window counters (worker/alerts/counters.py) count across issues for the digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.alerts.tiers import RULES, TierRule

EVENT_FREQUENCY = "sentry.rules.conditions.event_frequency.EventFrequencyCondition"
LEVEL_FILTER = "sentry.rules.filters.level.LevelFilter"
TAGGED_EVENT_FILTER = "sentry.rules.filters.tagged_event.TaggedEventFilter"
EVENT_ATTRIBUTE_FILTER = "sentry.rules.filters.event_attribute.EventAttributeFilter"
SENTRY_APP_ACTION = "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction"
EMAIL_ACTION = "sentry.mail.actions.NotifyEmailAction"
# Sentry's LevelFilter numbers.
LEVEL_NUMBERS = {"fatal": "50", "error": "40", "warning": "30", "info": "20", "debug": "10"}
TIER_FREQUENCY_MIN = {1: 5, 2: 30}  # at most one alert per issue every 5 minutes / every 30 minutes
KEYS = ("name", "actionMatch", "filterMatch", "frequency", "environment", "conditions", "filters", "actions")

LIMITATION = (
    "Sentry counts a rule's events per issue: a count across many issues (more than 5 RateLimitErrors an "
    "hour in total, more than 10 API errors an hour in total) cannot be a Sentry rule. These rules fire "
    "per noisy issue; the bot's router counts every alert across issues and sends the 30-minute digest."
)


def _filters(rule: TierRule) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if rule.component is not None:
        filters.append({"id": TAGGED_EVENT_FILTER, "key": "component", "match": "eq", "value": rule.component})
    if rule.min_level is not None:
        match = "eq" if rule.min_level == "fatal" else "gte"
        filters.append({"id": LEVEL_FILTER, "match": match, "level": LEVEL_NUMBERS[rule.min_level]})
    if rule.exception_type is not None:
        filters.append(
            {"id": EVENT_ATTRIBUTE_FILTER, "attribute": "exception.type", "match": "eq", "value": rule.exception_type}
        )
    return filters


def desired_rule(rule: TierRule, installation_uuid: str) -> dict[str, Any]:
    """The full rule body (a PUT replaces the whole rule, so this is always sent whole)."""
    # Tier 1: "more than 0 events in a minute" is every event (rate-limited per issue by `frequency`);
    # tier 2: the guide's "more than N an hour", per issue.
    value, interval = (0, "1m") if rule.tier == 1 else (rule.threshold or 0, "1h")
    return {
        "name": rule.sentry_name,
        "actionMatch": "all",
        "filterMatch": "all",
        "frequency": TIER_FREQUENCY_MIN[rule.tier],
        "environment": None,
        "conditions": [{"id": EVENT_FREQUENCY, "value": value, "interval": interval, "comparisonType": "count"}],
        "filters": _filters(rule),
        "actions": [
            {"id": SENTRY_APP_ACTION, "sentryAppInstallationUuid": installation_uuid},
            {"id": EMAIL_ACTION, "targetType": "IssueOwners", "fallthroughType": "ActiveMembers"},
        ],
    }


def desired_rules(installation_uuid: str) -> list[dict[str, Any]]:
    return [desired_rule(rule, installation_uuid) for rule in RULES if rule.sentry_name]


def _same_value(want: Any, have: Any) -> bool:
    if isinstance(want, int) and not isinstance(want, bool):
        return str(want) == str(have)
    return bool(want == have)


def _node_matches(want: Mapping[str, Any], have: Any) -> bool:
    # Sentry adds labels (`name`), uuids and defaults to stored nodes: what we set must be there, unchanged.
    return isinstance(have, Mapping) and all(_same_value(v, have.get(k)) for k, v in want.items())


def _nodes_match(want: Sequence[Mapping[str, Any]], have: Any) -> bool:
    return (
        isinstance(have, list)
        and len(want) == len(have)
        and all(_node_matches(w, h) for w, h in zip(want, have, strict=True))
    )


def differences(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """The top-level fields whose value in Sentry differs from the desired rule."""
    changed = []
    for key in KEYS:
        if key in ("conditions", "filters", "actions"):
            if not _nodes_match(want[key], have.get(key)):
                changed.append(key)
        elif not _same_value(want[key], have.get(key)):
            changed.append(key)
    return changed


@dataclass(frozen=True)
class RuleChange:
    name: str
    change: str  # create | update | unchanged
    rule_id: str | None = None
    fields: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "change": self.change, "id": self.rule_id, "fields": self.fields}


def plan(desired: Sequence[dict[str, Any]], existing: Sequence[Mapping[str, Any]]) -> list[RuleChange]:
    """What to create, update or leave, matching rules by name (the first of a duplicated name)."""
    by_name: dict[str, Mapping[str, Any]] = {}
    for rule in existing:
        by_name.setdefault(str(rule.get("name")), rule)
    changes = []
    for want in desired:
        have = by_name.get(want["name"])
        if have is None:
            changes.append(RuleChange(want["name"], "create", body=want))
            continue
        changed = differences(want, have)
        rule_id = str(have.get("id"))
        changes.append(RuleChange(want["name"], "update" if changed else "unchanged", rule_id, changed, want))
    return changes
