"""Sentry integration webhooks, read strictly: the three resources the alert router acts on, as one AlertTask.

Shapes from Sentry's integration-platform docs (DESIGN.md §9): ``event_alert`` (``data.event`` with ``tags``
as a list of ``[key, value]`` pairs and ``data.triggered_rule``), ``issue`` (``data.issue``) and
``metric_alert`` (``data.description_title`` … ``data.metric_alert.alert_rule``). Fields we need must be
present with the right type; fields we do not use are ignored, since Sentry adds new ones. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from common.contract import ALERT_LEVELS, AlertTask, ContractError

# What Sentry sends that we route, and what we accept and drop (200, nothing queued).
ROUTED_ACTIONS: dict[str, frozenset[str]] = {
    "event_alert": frozenset({"triggered"}),
    "issue": frozenset({"created", "resolved", "unresolved", "archived", "ignored"}),
    "metric_alert": frozenset({"critical", "warning", "resolved"}),
}
KNOWN_ACTIONS: dict[str, frozenset[str]] = {**ROUTED_ACTIONS, "issue": ROUTED_ACTIONS["issue"] | {"assigned"}}
UNROUTED_RESOURCES = frozenset({"installation", "comment", "error", "seer", "preprod_artifact"})
METRIC_LEVELS = {"critical": "fatal", "warning": "warning", "resolved": "info"}
MAX_TEXT = 4096  # no field we show needs more; a longer one is cut here, the page shortens further


class WebhookRejected(ValueError):
    """The body is not what its resource needs; the message is the short reason the 400 answer carries."""


def _digits(value: object) -> object:
    # Sentry sends ids and counts as strings in some serializers and numbers in others.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _count(value: object) -> object:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


IdStr = Annotated[StrictStr, BeforeValidator(_digits), Field(pattern=r"^[1-9]\d{0,19}$")]
Count = Annotated[StrictInt, BeforeValidator(_count), Field(ge=0)]
Text = Annotated[StrictStr, Field(max_length=100_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _ExceptionValue(_Model):
    type: StrictStr | None = None


class _ExceptionInterface(_Model):
    values: list[_ExceptionValue] | None = None


class _Metadata(_Model):
    type: StrictStr | None = None


class _Event(_Model):
    title: Text
    level: StrictStr
    issue_id: IdStr
    culprit: Text | None = None
    environment: StrictStr | None = None
    release: StrictStr | None = None
    web_url: StrictStr | None = None
    tags: list[tuple[StrictStr, StrictStr]] = Field(default_factory=list)
    exception: _ExceptionInterface | None = None
    metadata: _Metadata | None = None


class _EventAlertData(_Model):
    event: _Event
    triggered_rule: Text


class _Project(_Model):
    slug: StrictStr | None = None


class _Issue(_Model):
    id: IdStr
    shortId: StrictStr
    title: Text
    level: StrictStr
    status: StrictStr
    substatus: StrictStr | None = None
    count: Count
    userCount: Count
    project: _Project
    culprit: Text | None = None
    web_url: StrictStr | None = None
    permalink: StrictStr | None = None
    metadata: _Metadata | None = None


class _IssueData(_Model):
    issue: _Issue


class _AlertRule(_Model):
    name: Text


class _MetricAlert(_Model):
    alert_rule: _AlertRule


class _MetricAlertData(_Model):
    description_title: Text
    description_text: Text
    web_url: StrictStr
    metric_alert: _MetricAlert


class _Actor(_Model):
    type: StrictStr | None = None
    name: StrictStr | None = None


class _Envelope(_Model):
    action: StrictStr
    data: dict[str, Any]
    actor: _Actor | None = None


def _reason(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in (prefix, *first["loc"]))
    return f"{where}: {first['msg']}"[:200]


def _level(value: str) -> str:
    if value not in ALERT_LEVELS:
        raise WebhookRejected(f"level must be one of {', '.join(ALERT_LEVELS)}, got {value[:40]!r}")
    return value


def _cut(value: str | None) -> str | None:
    return value[:MAX_TEXT] if value is not None else None


def _exception_type(exception: _ExceptionInterface | None, metadata: _Metadata | None) -> str | None:
    if exception is not None and exception.values:
        last = exception.values[-1].type  # the innermost exception is last in Sentry's list
        if last:
            return last
    return metadata.type if metadata is not None else None


def parse_body(body: bytes) -> _Envelope:
    """The JSON envelope every webhook shares; WebhookRejected with a short reason."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("body is not valid JSON") from None
    if not isinstance(raw, dict):
        raise WebhookRejected("body must be a JSON object")
    try:
        return _Envelope.model_validate(raw)
    except ValidationError as exc:
        raise WebhookRejected(_reason(exc, "body")) from None


def normalize(resource: str, envelope: _Envelope, request_id: str, received_at_s: float) -> AlertTask:
    """The AlertTask for a routed resource/action; WebhookRejected when the shape lacks what it needs."""
    action = envelope.action
    actor = envelope.actor.name if envelope.actor is not None and envelope.actor.type == "user" else None
    common: dict[str, Any] = {
        "request_id": request_id,
        "resource": resource,
        "action": action,
        "received_at_s": received_at_s,
        "actor": actor,
    }
    try:
        if resource == "event_alert":
            data = _EventAlertData.model_validate(envelope.data)
            event = data.event
            tags = dict(event.tags)
            return AlertTask(
                **common,
                title=event.title[:MAX_TEXT],
                level=_level(event.level),
                issue_id=event.issue_id,
                culprit=_cut(event.culprit),
                environment=event.environment or tags.get("environment"),
                release=event.release or tags.get("release"),
                component=tags.get("component"),
                exception_type=_exception_type(event.exception, event.metadata),
                rule=data.triggered_rule[:MAX_TEXT],
                url=event.web_url,
                test=tags.get("test", "").lower() == "true",
            )
        if resource == "issue":
            issue = _IssueData.model_validate(envelope.data).issue
            return AlertTask(
                **common,
                title=issue.title[:MAX_TEXT],
                level=_level(issue.level),
                issue_id=issue.id,
                short_id=issue.shortId[:64],
                culprit=_cut(issue.culprit),
                exception_type=issue.metadata.type if issue.metadata is not None else None,
                count=issue.count,
                user_count=issue.userCount,
                url=issue.web_url or issue.permalink,
            )
        metric = _MetricAlertData.model_validate(envelope.data)
        return AlertTask(
            **common,
            title=metric.description_title[:MAX_TEXT],
            level=METRIC_LEVELS[action],
            culprit=_cut(metric.description_text),
            rule=metric.metric_alert.alert_rule.name[:MAX_TEXT],
            url=metric.web_url,
        )
    except ValidationError as exc:
        raise WebhookRejected(_reason(exc, "data")) from None
    except ContractError as exc:
        raise WebhookRejected(str(exc)[:200]) from None
