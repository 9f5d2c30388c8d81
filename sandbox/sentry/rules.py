"""Issue alert rules: Sentry's validation of the rule body and its evaluation against an incoming event.

Validation follows ``ProjectRulesPostSerializer`` and the rule nodes' Django forms: field errors
come back together as ``{"field": ["message"]}``, a node's first form error as its list's message
(``"This field is required."`` becomes Sentry's generic "Ensure all required fields are filled in.").
Only the node ids below are known; any other id is "Invalid node" here (sentry.io knows more).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .models import LEVEL_NUMBERS

FIRST_SEEN = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
REGRESSION = "sentry.rules.conditions.regression_event.RegressionEventCondition"
EVERY_EVENT = "sentry.rules.conditions.every_event.EveryEventCondition"
EVENT_FREQUENCY = "sentry.rules.conditions.event_frequency.EventFrequencyCondition"
LEVEL_FILTER = "sentry.rules.filters.level.LevelFilter"
TAGGED_EVENT_FILTER = "sentry.rules.filters.tagged_event.TaggedEventFilter"
EVENT_ATTRIBUTE_FILTER = "sentry.rules.filters.event_attribute.EventAttributeFilter"
SENTRY_APP_ACTION = "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction"
EMAIL_ACTION = "sentry.mail.actions.NotifyEmailAction"

MATCHES = ("all", "any", "none")
MIN_FREQUENCY, MAX_FREQUENCY = 5, 60 * 24 * 30  # minutes, as Sentry's serializer bounds them
MAX_NAME = 256
INTERVALS_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
    "30d": 2_592_000_000,
}
COMPARISON_INTERVALS = ("5m", "15m", "1h", "1d", "1w", "30d")
LEVEL_CHOICES = ("50", "40", "30", "20", "10", "0")
LEVEL_MATCHES = ("eq", "gte", "lte")
# sentry.rules.match.MATCH_CHOICES
VALUE_MATCHES = ("co", "ew", "eq", "is", "in", "nc", "new", "ne", "ns", "nsw", "nin", "sw")
NO_VALUE_MATCHES = ("is", "ns")
ATTRIBUTES = (
    "message",
    "platform",
    "environment",
    "type",
    "error.handled",
    "error.unhandled",
    "error.main_thread",
    "exception.type",
    "exception.value",
    "user.id",
    "user.email",
    "user.username",
    "user.ip_address",
    "http.method",
    "http.url",
    "http.status_code",
    "sdk.name",
    "stacktrace.code",
    "stacktrace.module",
    "stacktrace.filename",
    "stacktrace.abs_path",
    "stacktrace.package",
    "unreal.crashtype",
    "app.in_foreground",
)
EMAIL_TARGETS = ("IssueOwners", "Team", "Member")
FALLTHROUGHS = ("ActiveMembers", "AllMembers", "NoOne")
REQUIRED = "This field is required."


class RuleError(ValueError):
    """The rule body is invalid; ``errors`` is Sentry's 400 body."""

    def __init__(self, errors: Mapping[str, Sequence[Any]]) -> None:
        super().__init__(str(errors))
        self.errors = {key: list(value) for key, value in errors.items()}


class NodeError(ValueError):
    """One node failed validation (its form's first error)."""


# ---- validation ------------------------------------------------------------------------------------


def _choice(node: Mapping[str, Any], key: str, choices: Iterable[str], *, required: bool = True) -> str | None:
    value = node.get(key)
    if value is None or value == "":
        if required:
            raise NodeError(REQUIRED)
        return None
    if str(value) not in tuple(choices):
        raise NodeError(f"Select a valid choice. {value} is not one of the available choices.")
    return str(value)


def _integer(node: Mapping[str, Any], key: str, low: int) -> int:
    value = node.get(key)
    if value is None or value == "":
        raise NodeError(REQUIRED)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise NodeError("Enter a whole number.") from None
    if isinstance(value, bool) or not number.is_integer():
        raise NodeError("Enter a whole number.")
    if number < low:
        raise NodeError(f"Ensure this value is greater than or equal to {low}.")
    return int(number)


def _frequency_condition(node: dict[str, Any]) -> dict[str, Any]:
    cleaned = {"value": _integer(node, "value", 0), "interval": _choice(node, "interval", INTERVALS_MS)}
    comparison = _choice(node, "comparisonType", ("count", "percent"), required=False) or "count"
    cleaned["comparisonType"] = comparison
    if comparison == "percent":
        if not node.get("comparisonInterval"):
            raise NodeError("comparisonInterval is required when comparing by percent")
        cleaned["comparisonInterval"] = _choice(node, "comparisonInterval", COMPARISON_INTERVALS)
    return cleaned


def _value_match(node: dict[str, Any]) -> dict[str, Any]:
    match = _choice(node, "match", VALUE_MATCHES)
    value = node.get("value")
    if match not in NO_VALUE_MATCHES and (value is None or value == ""):
        raise NodeError(REQUIRED)
    return {"match": match, "value": "" if value is None else str(value)}


def _level_filter(node: dict[str, Any]) -> dict[str, Any]:
    return {"match": _choice(node, "match", LEVEL_MATCHES), "level": _choice(node, "level", LEVEL_CHOICES)}


def _tagged_filter(node: dict[str, Any]) -> dict[str, Any]:
    if not node.get("key"):
        raise NodeError(REQUIRED)
    return {"key": str(node["key"]), **_value_match(node)}


def _attribute_filter(node: dict[str, Any]) -> dict[str, Any]:
    return {"attribute": _choice(node, "attribute", ATTRIBUTES), **_value_match(node)}


def _email_action(node: dict[str, Any]) -> dict[str, Any]:
    target = _choice(node, "targetType", EMAIL_TARGETS)
    cleaned: dict[str, Any] = {"targetType": target}
    if target != "IssueOwners":
        cleaned["targetIdentifier"] = _integer(node, "targetIdentifier", 0)
    fallthrough = _choice(node, "fallthroughType", FALLTHROUGHS, required=False)
    if fallthrough is not None:
        cleaned["fallthroughType"] = fallthrough
    return cleaned


def _no_form(node: dict[str, Any]) -> dict[str, Any]:
    return {}


Cleaner = Callable[[dict[str, Any]], dict[str, Any]]
CONDITIONS: Mapping[str, Cleaner] = {
    FIRST_SEEN: _no_form,
    REGRESSION: _no_form,
    EVERY_EVENT: _no_form,
    EVENT_FREQUENCY: _frequency_condition,
}
FILTERS: Mapping[str, Cleaner] = {
    LEVEL_FILTER: _level_filter,
    TAGGED_EVENT_FILTER: _tagged_filter,
    EVENT_ATTRIBUTE_FILTER: _attribute_filter,
}


def _actions(installation_uuid: str) -> Mapping[str, Cleaner]:
    def sentry_app(node: dict[str, Any]) -> dict[str, Any]:
        uuid = node.get("sentryAppInstallationUuid")
        if not uuid:
            raise NodeError("Missing attribute 'sentryAppInstallationUuid'")
        if str(uuid) != installation_uuid:
            raise NodeError("Could not identify integration from the installation uuid.")
        return {"sentryAppInstallationUuid": str(uuid)}

    return {SENTRY_APP_ACTION: sentry_app, EMAIL_ACTION: _email_action}


def _node(data: Any, known: Mapping[str, Cleaner]) -> dict[str, Any]:
    """RuleNodeField: a mapping with a known ``id`` whose form validates; returns the cleaned node."""
    if not isinstance(data, dict):
        raise NodeError(f"Incorrect type. Expected a mapping, but got {type(data).__name__}")
    if "id" not in data:
        raise NodeError("Missing attribute 'id'")
    cleaner = known.get(str(data["id"]))
    if cleaner is None:
        raise NodeError(f"Invalid node. Could not find '{data['id']}'")
    try:
        cleaned = cleaner(data)
    except NodeError as exc:
        message = str(exc)
        raise NodeError("Ensure all required fields are filled in." if message == REQUIRED else message) from None
    # The form's cleaned values replace the raw ones; labels (`name`) are not stored, as in Sentry.
    return {key: value for key, value in {**data, **cleaned}.items() if key != "name"}


def _node_list(
    body: Mapping[str, Any], key: str, known: Mapping[str, Cleaner], errors: dict[str, list[str]]
) -> list[Any]:
    raw = body.get(key, [])
    if not isinstance(raw, list):
        errors[key] = [f'Expected a list of items but got type "{type(raw).__name__}".']
        return []
    nodes: list[Any] = []
    for data in raw:
        try:
            nodes.append(_node(data, known))
        except NodeError as exc:
            errors.setdefault(key, []).append(str(exc))
    return nodes


def _check_name(body: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    name = body.get("name")
    if name is None:
        errors["name"] = [REQUIRED]
    elif not isinstance(name, str):
        errors["name"] = ["Not a valid string."]
    elif not name.strip():
        errors["name"] = ["This field may not be blank."]
    elif len(name) > MAX_NAME:
        errors["name"] = [f"Ensure this field has no more than {MAX_NAME} characters."]


def _check_choice(body: Mapping[str, Any], key: str, errors: dict[str, list[str]], *, required: bool) -> None:
    if key not in body:
        if required:
            errors[key] = [REQUIRED]
    elif body[key] not in MATCHES:
        errors[key] = [f'"{body[key]}" is not a valid choice.']


def _check_frequency(body: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    value = body.get("frequency")
    if value is None:
        errors["frequency"] = [REQUIRED]
    elif isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        errors["frequency"] = ["A valid integer is required."]
    elif int(value) < MIN_FREQUENCY:
        errors["frequency"] = [f"Ensure this value is greater than or equal to {MIN_FREQUENCY}."]
    elif int(value) > MAX_FREQUENCY:
        errors["frequency"] = [f"Ensure this value is less than or equal to {MAX_FREQUENCY}."]


def _check_optional_string(body: Mapping[str, Any], key: str, errors: dict[str, list[str]]) -> None:
    if body.get(key) is not None and not isinstance(body[key], str):
        errors[key] = ["Not a valid string."]


def validate_rule(body: Any, installation_uuid: str) -> dict[str, Any]:
    """The cleaned rule (API field names) or RuleError with Sentry's 400 body."""
    if not isinstance(body, dict):
        raise RuleError({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    errors: dict[str, list[str]] = {}
    _check_name(body, errors)
    _check_choice(body, "actionMatch", errors, required=True)
    _check_choice(body, "filterMatch", errors, required=False)
    _check_frequency(body, errors)
    _check_optional_string(body, "environment", errors)
    _check_optional_string(body, "owner", errors)
    conditions = _node_list(body, "conditions", CONDITIONS, errors)
    filters = _node_list(body, "filters", FILTERS, errors)
    actions = _node_list(body, "actions", _actions(installation_uuid), errors)
    if errors:
        raise RuleError(errors)
    if filters and not body.get("filterMatch"):
        raise RuleError({"filterMatch": ["Must select a filter match (all, any, none) if filters are supplied."]})
    if not actions:
        raise RuleError({"actions": ["You must add an action for this alert to fire."]})
    return {
        "name": body["name"],
        "actionMatch": body["actionMatch"],
        "filterMatch": body.get("filterMatch") or "all",
        "conditions": conditions,
        "filters": filters,
        "actions": actions,
        "frequency": int(body["frequency"]),
        "environment": body.get("environment"),
        "owner": body.get("owner"),
    }


def duplicate_of(rule: Mapping[str, Any], others: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """An existing rule identical but for its name (Sentry refuses to create or save such a duplicate)."""
    keys = ("actionMatch", "filterMatch", "conditions", "filters", "actions", "frequency", "environment")
    return next((other for other in others if all(other.get(k) == rule.get(k) for k in keys)), None)


# ---- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFacts:
    """What a rule can look at: the event, its issue's state change, and the issue's event counts."""

    payload: Mapping[str, Any]
    tags: Mapping[str, str]
    environment: str | None
    is_new: bool
    is_new_in_environment: bool
    is_regression: bool
    count_between: Callable[[int, int], int]  # events of the issue received in [start_ms, end_ms]
    now_ms: int


def _match_values(values: Iterable[str], wanted: str, match: str) -> bool:
    """sentry.rules.match.match_values (values and wanted already lower-cased)."""
    seen = list(values)
    listed = set(wanted.replace(" ", "").split(","))
    checks: Mapping[str, Callable[[], bool]] = {
        "eq": lambda: wanted in seen,
        "ne": lambda: wanted not in seen,
        "sw": lambda: any(v.startswith(wanted) for v in seen),
        "nsw": lambda: not any(v.startswith(wanted) for v in seen),
        "ew": lambda: any(v.endswith(wanted) for v in seen),
        "new": lambda: not any(v.endswith(wanted) for v in seen),
        "co": lambda: any(wanted in v for v in seen),
        "nc": lambda: not any(wanted in v for v in seen),
        "in": lambda: any(v in listed for v in seen),
        "nin": lambda: not any(v in listed for v in seen),
        "is": lambda: bool(seen),
        "ns": lambda: not seen,
    }
    return checks[match]()


def _frames(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    exception = payload.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    frames: list[Mapping[str, Any]] = []
    for value in values if isinstance(values, list) else []:
        stack = value.get("stacktrace") if isinstance(value, dict) else None
        frames += [f for f in (stack or {}).get("frames") or [] if isinstance(f, dict)]
    return frames


def _attribute_values(facts: EventFacts, attribute: str) -> list[Any]:
    """The event's values for an EventAttributeFilter attribute (the subset the sandbox can derive)."""
    payload = facts.payload
    exception = payload.get("exception")
    raw_values = exception.get("values") if isinstance(exception, dict) else exception
    exceptions = [e for e in raw_values if isinstance(e, dict)] if isinstance(raw_values, list) else []
    head, _, tail = attribute.partition(".")
    if attribute == "message":
        logentry = payload.get("logentry")
        message = payload.get("message")
        return [logentry.get("formatted") or logentry.get("message")] if isinstance(logentry, dict) else [message]
    if attribute in ("platform", "type"):
        return [payload.get(attribute, "error" if attribute == "type" else None)]
    if attribute == "environment":
        return [facts.environment]
    if head == "exception" and tail in ("type", "value"):
        return [e.get(tail) for e in exceptions]
    if head == "error" and tail in ("handled", "unhandled"):
        handled = [(e.get("mechanism") or {}).get("handled") for e in exceptions]
        return [h is not False if tail == "handled" else h is False for h in handled]
    if head == "user" and isinstance(payload.get("user"), dict):
        return [payload["user"].get(tail)]
    if head == "http" and isinstance(payload.get("request"), dict):
        return [payload["request"].get(tail)]
    if attribute == "sdk.name" and isinstance(payload.get("sdk"), dict):
        return [payload["sdk"].get("name")]
    if head == "stacktrace" and tail in ("module", "filename", "abs_path", "package"):
        return [frame.get(tail) for frame in _frames(payload)]
    return []


def _filter_passes(node: Mapping[str, Any], facts: EventFacts) -> bool:
    kind = node.get("id")
    if kind == LEVEL_FILTER:
        level = LEVEL_NUMBERS.get(str(facts.payload.get("level") or "error"))
        desired, match = int(node["level"]), node["match"]
        if level is None:
            return False
        return {"eq": level == desired, "gte": level >= desired, "lte": level <= desired}[match]
    if kind == TAGGED_EVENT_FILTER:
        key = str(node["key"]).lower()
        values = [v.lower() for k, v in facts.tags.items() if k.lower() == key]
        return _match_values(values, str(node.get("value", "")).lower(), str(node["match"]))
    if kind == EVENT_ATTRIBUTE_FILTER:
        found = [str(v).lower() for v in _attribute_values(facts, str(node["attribute"])) if v is not None]
        return _match_values(found, str(node.get("value", "")).lower(), str(node["match"]))
    return False


def _condition_passes(node: Mapping[str, Any], facts: EventFacts, environment: str | None) -> bool:
    kind = node.get("id")
    if kind == FIRST_SEEN:
        # With an environment on the rule, Sentry asks whether the issue is new *in that environment*.
        return facts.is_new_in_environment if environment else facts.is_new
    if kind == REGRESSION:
        return facts.is_regression
    if kind == EVERY_EVENT:
        return True
    if kind == EVENT_FREQUENCY:
        span = INTERVALS_MS[str(node["interval"])]
        current = facts.count_between(facts.now_ms - span, facts.now_ms)
        if node.get("comparisonType") != "percent":
            return current > int(node["value"])
        offset = INTERVALS_MS[str(node["comparisonInterval"])]
        previous = facts.count_between(facts.now_ms - offset - span, facts.now_ms - offset)
        increase = (current - previous) / previous * 100 if previous > 0 else 0
        return increase > int(node["value"])
    return False


def _matches(how: str, results: list[bool]) -> bool:
    if not results:
        return True  # no triggers or no filters: nothing stands in the way
    if how == "any":
        return any(results)
    if how == "none":
        return not any(results)
    return all(results)


def rule_matches(rule: Mapping[str, Any], facts: EventFacts) -> bool:
    """Whether the rule's environment, triggers and filters all let this event through (frequency aside)."""
    environment = rule.get("environment")
    if environment and environment != facts.environment:
        return False
    conditions = [_condition_passes(node, facts, environment) for node in rule.get("conditions", [])]
    if not _matches(str(rule.get("actionMatch", "all")), conditions):
        return False
    filters = [_filter_passes(node, facts) for node in rule.get("filters", [])]
    return _matches(str(rule.get("filterMatch", "all")), filters)
