"""Sentry integration webhooks as Sentry sends them (the integration-platform docs' shapes), signed.

Used by the receiver's tests, the router's tests and the webhook benchmark: one place builds the bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

INSTALLATION = {"uuid": "5f6a2e1c-7b3d-4c8e-9a10-2b4c6d8e0f12"}
SENTRY_ACTOR = {"type": "application", "id": "sentry", "name": "Sentry"}


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(
    secret: str,
    resource: str,
    payload: dict[str, Any],
    *,
    request_id: str | None = None,
    timestamp: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of one delivery (compact JSON, as Sentry sends it)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "Request-ID": request_id or uuid.uuid4().hex,
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": str(int(time.time() if timestamp is None else timestamp)),
        "Sentry-Hook-Signature": sign(secret, body),
    }
    return body, headers


def event_alert(
    *,
    title: str = "RuntimeError: scan failed",
    level: str = "error",
    issue_id: str = "101",
    tags: dict[str, str] | None = None,
    exception_type: str | None = "RuntimeError",
    rule: str = "Trading failed",
    culprit: str = "worker.arbitrage.workflow in run_scan",
    environment: str = "production",
    release: str = "dmarket-bot-workers@1.0.0",
) -> dict[str, Any]:
    tag_pairs = [[key, value] for key, value in sorted((tags or {}).items())]
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "project": 1,
        "release": release,
        "platform": "python",
        "message": "",
        "datetime": "2026-12-01T23:00:00.000000Z",
        "tags": [["environment", environment], ["level", level], *tag_pairs],
        "title": title,
        "culprit": culprit,
        "level": level,
        "environment": environment,
        "url": f"https://sentry.io/api/0/projects/org/proj/events/{issue_id}/",
        "web_url": f"https://sentry.io/organizations/org/issues/{issue_id}/events/abc/",
        "issue_url": f"https://sentry.io/api/0/organizations/org/issues/{issue_id}/",
        "issue_id": issue_id,
    }
    if exception_type:
        event["exception"] = {"values": [{"type": exception_type, "value": title}]}
        event["metadata"] = {"type": exception_type, "value": title}
    return {
        "action": "triggered",
        "installation": INSTALLATION,
        "data": {"event": event, "triggered_rule": rule},
        "actor": SENTRY_ACTOR,
    }


def issue(
    action: str = "created",
    *,
    issue_id: str = "101",
    title: str = "RuntimeError: scan failed",
    level: str = "error",
    status: str = "unresolved",
    count: str = "1",
    actor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data_issue: dict[str, Any] = {
        "id": issue_id,
        "shortId": f"SANDBOX-PROJECT-{issue_id}",
        "title": title,
        "culprit": "worker.arbitrage.workflow in run_scan",
        "permalink": None,
        "level": level,
        "status": status,
        "statusDetails": {},
        "substatus": "new" if status == "unresolved" else None,
        "project": {"id": "1", "name": "sandbox-project", "slug": "sandbox-project"},
        "metadata": {"type": "RuntimeError", "value": "scan failed"},
        "count": count,
        "userCount": 1,
        "web_url": f"https://sentry.io/organizations/org/issues/{issue_id}/",
    }
    actor = actor or SENTRY_ACTOR
    return {"action": action, "installation": INSTALLATION, "data": {"issue": data_issue}, "actor": actor}


def metric_alert(action: str = "critical", *, name: str = "p95 scan latency") -> dict[str, Any]:
    return {
        "action": action,
        "installation": INSTALLATION,
        "data": {
            "metric_alert": {
                "id": "7",
                "alert_rule": {"id": "3", "name": name, "aggregate": "p95(transaction.duration)"},
                "date_detected": "2026-12-01T23:00:00Z",
            },
            "description_text": "1000ms over the last 10 minutes",
            "description_title": f"Critical: {name}",
            "web_url": "https://sentry.io/organizations/org/alerts/rules/details/3/",
        },
        "actor": SENTRY_ACTOR,
    }
