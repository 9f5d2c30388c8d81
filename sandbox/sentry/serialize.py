"""Issue and event JSON in the shapes Sentry's Web API returns."""

from __future__ import annotations

from typing import Any

from .grouping import event_message, summarize
from .models import Issue, StoredEvent, parse_timestamp, to_iso
from .store import SentryState


def issue_permalink(state: SentryState, issue: Issue, base_url: str) -> str:
    return f"{base_url}/organizations/{state.project.org}/issues/{issue.id}/"


def _issue_tags(issue: Issue) -> list[dict[str, Any]]:
    """Per tag key: the most common value plus Sentry's ``totalValues``/``topValues`` breakdown."""
    out = []
    for key in sorted(issue.tags):
        counts = issue.tags[key]
        top = counts.most_common(10)
        out.append(
            {
                "key": key,
                "name": key,
                "value": top[0][0],
                "totalValues": sum(counts.values()),
                "topValues": [{"key": key, "value": v, "name": v, "count": c} for v, c in top],
            }
        )
    return out


def issue_to_api(state: SentryState, issue: Issue, base_url: str) -> dict[str, Any]:
    return base_issue(state, issue, issue_permalink(state, issue, base_url)) | {
        "tags": _issue_tags(issue),
        "environment": issue.environment,
    }


def base_issue(state: SentryState, issue: Issue, permalink: str | None) -> dict[str, Any]:
    """Sentry's GroupSerializer fields (what webhooks carry; lists and details add the sandbox extras)."""
    return {
        "id": str(issue.id),
        "shareId": None,
        "shortId": state.short_id(issue),
        "title": issue.title,
        "culprit": issue.culprit,
        "permalink": permalink,
        "logger": None,
        "level": issue.level,
        "status": issue.status,
        "statusDetails": {},
        "substatus": issue.substatus,
        "isPublic": issue.is_public,
        "platform": "python",
        "project": state.project.as_api(),
        "type": issue.issue_type,
        "issueType": "error",
        "issueCategory": "error",
        "metadata": issue.metadata,
        "numComments": issue.num_comments,
        "assignedTo": issue.assigned_to,
        "isBookmarked": issue.is_bookmarked,
        "isSubscribed": False,
        "subscriptionDetails": None,
        "hasSeen": issue.has_seen,
        "annotations": [],
        "isUnhandled": issue.is_unhandled,
        "count": str(issue.count),
        "userCount": issue.user_count,
        "firstSeen": to_iso(issue.first_seen_ms),
        "lastSeen": to_iso(issue.last_seen_ms),
    }


def issue_api_url(state: SentryState, issue_id: int, base_url: str) -> str:
    return f"{base_url}/api/0/organizations/{state.project.org}/issues/{issue_id}/"


def issue_webhook_data(state: SentryState, issue: Issue, base_url: str, *, created: bool) -> dict[str, Any]:
    """``data.issue`` of an ``issue`` webhook.

    As in Sentry, only ``created`` (sent from the new Group) adds ``url``, ``web_url`` and
    ``project_url``; status changes carry the bare serialization. ``permalink`` is null in both:
    Sentry serializes without a user, and only members get a permalink.
    """
    serialized = base_issue(state, issue, None)
    if not created:
        return serialized
    return {
        "url": issue_api_url(state, issue.id, base_url),
        "web_url": issue_permalink(state, issue, base_url),
        "project_url": f"{base_url}/organizations/{state.project.org}/issues/?project={state.project.id}",
        **serialized,
    }


def _entries(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Sentry's event ``entries``: one per interface present in the payload."""
    entries: list[dict[str, Any]] = []
    exception = payload.get("exception")
    if exception:
        values = exception.get("values") if isinstance(exception, dict) else exception
        entries.append({"type": "exception", "data": {"values": values, "hasSystemFrames": False}})
    formatted, template = event_message(payload)
    if formatted and not exception:
        entries.append({"type": "message", "data": {"formatted": formatted, "message": template}})
    breadcrumbs = payload.get("breadcrumbs")
    values = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    if values:
        entries.append({"type": "breadcrumbs", "data": {"values": values}})
    if payload.get("request"):
        entries.append({"type": "request", "data": payload["request"]})
    return entries


def event_to_api(state: SentryState, event: StoredEvent, *, full: bool) -> dict[str, Any]:
    """Sentry's simple event (issue event lists) or, with ``full``, the full event with ``entries``."""
    payload = event.payload
    summary = summarize(payload)
    created_ms = parse_timestamp(payload.get("timestamp")) or event.received_ms
    out: dict[str, Any] = {
        "id": event.event_id,
        "eventID": event.event_id,
        "groupID": None if event.issue_id is None else str(event.issue_id),
        "projectID": str(state.project.id),
        "title": summary.title,
        "message": summary.message,
        "platform": payload.get("platform", "other"),
        "event.type": summary.issue_type,
        "dateCreated": to_iso(created_ms),
        "tags": [{"key": k, "value": v} for k, v in sorted(event.tags.items())],
        "user": payload.get("user"),
    }
    if full:
        out |= {
            "type": summary.issue_type,
            "dateReceived": to_iso(event.received_ms),
            "culprit": summary.culprit,
            "location": summary.culprit or None,
            "metadata": summary.metadata,
            "fingerprints": [summary.group_hash],
            "environment": payload.get("environment"),
            "release": payload.get("release"),
            "contexts": payload.get("contexts", {}),
            "sdk": payload.get("sdk"),
            "context": payload.get("extra", {}),
            "entries": _entries(payload),
        }
    return out


def _values(payload: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Sentry's normalized interface shape ``{"values": [...]}`` (SDKs may send a bare list)."""
    raw = payload.get(key)
    if raw is None:
        return None
    return raw if isinstance(raw, dict) else {"values": raw}


def event_webhook_data(state: SentryState, event: StoredEvent, base_url: str) -> dict[str, Any]:
    """``data.event`` of an ``event_alert`` webhook: Sentry's ``Event.as_dict()`` plus its four links."""
    payload = event.payload
    summary = summarize(payload)
    occurred_ms = parse_timestamp(payload.get("timestamp")) or event.received_ms
    org, project = state.project.org, state.project
    first = {
        "event_id": event.event_id,
        "project": project.id,
        "release": payload.get("release"),
        "dist": payload.get("dist"),
        "platform": payload.get("platform", "other"),
        "message": summary.message,
        "datetime": to_iso(occurred_ms),
        "tags": [[key, value] for key, value in sorted(event.tags.items())],
    }
    normalized = {
        "_ref": project.id,
        "_ref_version": 2,
        "culprit": summary.culprit,
        "environment": payload.get("environment"),
        "exception": _values(payload, "exception"),
        "breadcrumbs": _values(payload, "breadcrumbs"),
        "fingerprint": payload.get("fingerprint") or ["{{ default }}"],
        "hashes": [summary.group_hash],
        "level": payload.get("level") or "error",
        "location": summary.culprit or None,
        "logger": payload.get("logger") or "",
        "metadata": summary.metadata,
        "received": event.received_ms / 1000,
        "timestamp": occurred_ms / 1000,
        "title": summary.title,
        "type": summary.issue_type,
        "version": "7",
    }
    rest = {k: v for k, v in sorted(payload.items()) if k not in first and k not in normalized}
    issue_id = str(event.issue_id)
    return {
        **first,
        **{k: v for k, v in normalized.items() if v is not None},
        **rest,
        "url": f"{base_url}/api/0/projects/{org}/{project.slug}/events/{event.event_id}/",
        "web_url": f"{base_url}/organizations/{org}/issues/{issue_id}/events/{event.event_id}/",
        "issue_url": issue_api_url(state, event.issue_id or 0, base_url),
        "issue_id": issue_id,
    }
