"""How an error or message event becomes an issue: its grouping hash, title, culprit and metadata.

A deliberately small subset of Sentry's grouping: the fingerprint when the SDK sends one (with
``{{ default }}`` expanded), otherwise the exception type plus the crashing frame, otherwise the
message template. Exception *values* never split a group, as in Sentry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_FINGERPRINT_VARIABLES = frozenset({"{{ default }}", "{{default}}"})


@dataclass(frozen=True)
class EventSummary:
    """The issue-relevant facts of one event, computed once at ingestion."""

    group_hash: str
    issue_type: str  # "error" for exceptions, "default" for messages, as Sentry's `type`
    title: str
    culprit: str
    metadata: dict[str, str]
    message: str
    is_unhandled: bool


def _main_exception(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The exception Sentry treats as the event's own: the last of ``exception.values``."""
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    if isinstance(values, list) and values and isinstance(values[-1], dict):
        return values[-1]
    return None


def _crashing_frame(exception: Mapping[str, Any]) -> dict[str, Any] | None:
    """The innermost in-app frame (frames run oldest → newest), else the innermost frame."""
    stacktrace = exception.get("stacktrace") or {}
    frames = [f for f in stacktrace.get("frames") or [] if isinstance(f, dict)]
    in_app = [f for f in frames if f.get("in_app")]
    candidates = in_app or frames
    return candidates[-1] if candidates else None


def event_message(event: Mapping[str, Any]) -> tuple[str, str]:
    """``(formatted, template)`` of a message event; the template groups, the formatted text titles."""
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        template = str(logentry.get("message") or logentry.get("formatted") or "")
        return str(logentry.get("formatted") or template), template
    message = event.get("message")
    if isinstance(message, dict):
        template = str(message.get("message") or message.get("formatted") or "")
        return str(message.get("formatted") or template), template
    text = str(message or "")
    return text, text


def _frame_location(frame: Mapping[str, Any] | None) -> str:
    if not frame:
        return ""
    where = frame.get("module") or frame.get("filename") or "?"
    return f"{where} in {frame.get('function') or '?'}"


def _default_components(event: Mapping[str, Any]) -> list[str]:
    exception = _main_exception(event)
    if exception is not None:
        return [
            "exception",
            str(exception.get("type") or "Error"),
            _frame_location(_crashing_frame(exception)),
        ]
    _, template = event_message(event)
    return ["message", template]


def _group_hash(event: Mapping[str, Any]) -> str:
    fingerprint = event.get("fingerprint")
    components: list[str] = []
    if isinstance(fingerprint, list) and fingerprint:
        for part in fingerprint:
            if str(part) in DEFAULT_FINGERPRINT_VARIABLES:
                components.extend(_default_components(event))
            else:
                components.append(str(part))
    else:
        components = _default_components(event)
    encoded = json.dumps(components, separators=(",", ":")).encode()
    return hashlib.md5(encoded, usedforsecurity=False).hexdigest()  # Sentry's hashes are md5 hex too


def summarize(event: Mapping[str, Any]) -> EventSummary:
    exception = _main_exception(event)
    formatted, _ = event_message(event)
    if exception is not None:
        exc_type = str(exception.get("type") or "Error")
        value = str(exception.get("value") or "")
        first_line = value.splitlines()[0] if value else ""
        title = f"{exc_type}: {first_line}" if first_line else exc_type
        frame_culprit = _frame_location(_crashing_frame(exception))
        metadata = {"type": exc_type, "value": value}
        mechanism = exception.get("mechanism") or {}
        is_unhandled = mechanism.get("handled") is False
        issue_type = "error"
    else:
        title = (formatted.splitlines()[0] if formatted else "") or "<unlabeled event>"
        frame_culprit = ""
        metadata = {"title": title}
        is_unhandled = False
        issue_type = "default"
    # Sentry's culprit is the transaction name when there is one, else the crashing frame.
    culprit = str(event.get("culprit") or event.get("transaction") or frame_culprit)
    return EventSummary(
        group_hash=_group_hash(event),
        issue_type=issue_type,
        title=title,
        culprit=culprit,
        metadata=metadata,
        message=formatted,
        is_unhandled=is_unhandled,
    )


def event_tags(event: Mapping[str, Any]) -> dict[str, str]:
    """The event's tags (SDKs send a dict or a list of pairs) plus the ones Sentry derives itself."""
    raw = event.get("tags") or {}
    pairs = raw.items() if isinstance(raw, dict) else (p for p in raw if isinstance(p, list | tuple))
    tags = {str(k): str(v) for k, v in pairs}
    for derived in ("level", "environment", "release", "transaction"):
        if event.get(derived) and derived not in tags:
            tags[derived] = str(event[derived])
    if event.get("type") != "transaction":
        tags.setdefault("level", "error")  # Sentry's default level for error events; transactions have none
    return tags


def user_identity(event: Mapping[str, Any]) -> str | None:
    """What Sentry counts as one user: id, else email, else username, else IP address."""
    user = event.get("user")
    if not isinstance(user, dict):
        return None
    for key in ("id", "email", "username", "ip_address"):
        if user.get(key):
            return f"{key}:{user[key]}"
    return None
