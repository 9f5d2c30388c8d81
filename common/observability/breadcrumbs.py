"""The breadcrumb helpers, in the categories and wording of the operators' guide (DESIGN.md §5).

Every message reads as the guide prints it ("Bot command: /arbitrage", "API request: GET
/exchange/v1/market/items (200, 450ms)", "Trading action: arbitrage_scan_started (game: csgo, level:
standard)", "RateLimitError - Too many requests"); the same values are in ``data`` for searching.

The trail crosses processes: while a command runs in the bot (:func:`command_trail`), the breadcrumbs it adds
are also kept in a small list, which the producer sends with the task (:func:`trail_header`) and the worker
replays into the task's scope before the task adds its own (:func:`replay_trail`). So an event from the
worker shows the whole trail, from the user's command on. Bounded in count and size; every breadcrumb goes
through the SDK's ``before_breadcrumb`` (scrubbing) on both sides.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sentry_sdk

# Tag values alert rules match on (DESIGN.md §5).
COMPONENTS = frozenset({"telegram", "trading", "api", "database", "maintenance"})

# The task header that carries the bot's trail, and its bounds (a message header is not a place for kilobytes).
TRAIL_HEADER = "x-sentry-trail"
MAX_TRAIL_CRUMBS = 20
MAX_TRAIL_BYTES = 8192

_trail: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar("trail", default=None)


def _add(crumb: dict[str, Any]) -> None:
    crumb.setdefault("timestamp", datetime.now(UTC).isoformat())
    sentry_sdk.add_breadcrumb(crumb)
    trail = _trail.get()
    if trail is not None:
        if len(trail) >= MAX_TRAIL_CRUMBS:
            del trail[1]  # the command's own breadcrumb stays; the oldest after it makes room
        trail.append(crumb)


@contextmanager
def command_trail() -> Iterator[list[dict[str, Any]]]:
    """Keep the breadcrumbs added in this block (this context: a bot command) to send them with its tasks."""
    token = _trail.set([])
    try:
        trail = _trail.get()
        assert trail is not None
        yield trail
    finally:
        _trail.reset(token)


def trail_header() -> dict[str, str]:
    """The task header that carries the current command's trail (empty outside a command), within the bounds."""
    trail = _trail.get()
    if not trail:
        return {}
    # Through the SDK's before_breadcrumb (the scrubber), as every breadcrumb is before it reaches Sentry:
    # the header sits in Redis and in the worker's memory, where no secret may go either.
    hook = sentry_sdk.get_client().options.get("before_breadcrumb")
    crumbs = [c for c in (hook(dict(crumb), {}) if hook else dict(crumb) for crumb in trail) if c is not None]
    if not crumbs:
        return {}
    encoded = json.dumps(crumbs, default=str, ensure_ascii=False)
    # Over the size bound, drop from just after the first crumb (the command itself, which the trail must show).
    while len(crumbs) > 1 and len(encoded.encode()) > MAX_TRAIL_BYTES:
        del crumbs[1]
        encoded = json.dumps(crumbs, default=str, ensure_ascii=False)
    return {TRAIL_HEADER: encoded} if len(encoded.encode()) <= MAX_TRAIL_BYTES else {}


def replay_trail(header: Any) -> int:
    """Add the sender's breadcrumbs to the current scope, oldest first; how many were replayed."""
    if not isinstance(header, str) or len(header.encode()) > MAX_TRAIL_BYTES:
        return 0
    try:
        crumbs = json.loads(header)
    except ValueError:
        return 0
    if not isinstance(crumbs, list):
        return 0
    replayed = 0
    for crumb in crumbs[:MAX_TRAIL_CRUMBS]:
        if isinstance(crumb, dict) and isinstance(crumb.get("message"), str):
            sentry_sdk.add_breadcrumb(crumb)
            replayed += 1
    return replayed


def _with_details(message: str, details: list[str]) -> str:
    return f"{message} ({', '.join(details)})" if details else message


def add_telegram_breadcrumb(command: str, user_id: int | None = None, chat_id: int | None = None, **data: Any) -> None:
    """`telegram` "Bot command: /arbitrage" with the user and chat ids."""
    _add(
        {
            "category": "telegram",
            "message": f"Bot command: {command}",
            "level": "info",
            "data": {"user_id": user_id, "chat_id": chat_id, **data},
        }
    )


def add_trading_breadcrumb(action: str, *, show: tuple[str, ...] = (), **data: Any) -> None:
    """`trading` "Trading action: arbitrage_scan_started (game: csgo, level: standard)".

    ``show`` names the data keys the message repeats, in the guide's order; the rest stay in ``data`` only.
    """
    message = _with_details(f"Trading action: {action}", [f"{key}: {data[key]}" for key in show if key in data])
    _add({"category": "trading", "message": message, "level": "info", "data": data})


def add_http_breadcrumb(method: str, path: str, status_code: int | None, duration_ms: int, **data: Any) -> None:
    """`http` "API request: GET /exchange/v1/market/items (200, 450ms)", status and duration in ``data`` too."""
    level = "info" if status_code is not None and status_code < 400 else "warning"
    outcome = f"{status_code if status_code is not None else 'no response'}, {duration_ms}ms"
    _add(
        {
            "type": "http",
            "category": "http",
            "message": f"API request: {method} {path} ({outcome})",
            "level": level,
            "data": {"method": method, "url": path, "status_code": status_code, "duration_ms": duration_ms, **data},
        }
    )


def add_error_breadcrumb(error_type: str, message: str, **data: Any) -> None:
    """`error` "RateLimitError - Too many requests"."""
    _add({"category": "error", "message": f"{error_type} - {message}", "level": "error", "data": data})


def add_database_breadcrumb(operation: str, **data: Any) -> None:
    """`database` "Database operation: insert scan"."""
    _add({"category": "database", "message": f"Database operation: {operation}", "level": "info", "data": data})


def set_component(component: str) -> None:
    """Tag the current scope with the component alert rules match on."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}, expected one of {sorted(COMPONENTS)}")
    sentry_sdk.set_tag("component", component)
