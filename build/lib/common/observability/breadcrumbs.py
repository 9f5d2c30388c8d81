"""The breadcrumb helpers, in the categories and wording of the operators' guide (DESIGN.md §5)."""

from __future__ import annotations

from typing import Any

import sentry_sdk

# Tag values alert rules match on (DESIGN.md §5).
COMPONENTS = frozenset({"telegram", "trading", "api", "database", "maintenance"})


def add_telegram_breadcrumb(command: str, user_id: int | None = None, **data: Any) -> None:
    """`telegram` "Bot command: /arbitrage" with the user id."""
    sentry_sdk.add_breadcrumb(
        category="telegram",
        message=f"Bot command: {command}",
        level="info",
        data={"user_id": user_id, **data},
    )


def _with_details(message: str, details: list[str]) -> str:
    return f"{message} ({', '.join(details)})" if details else message


def add_trading_breadcrumb(action: str, *, show: tuple[str, ...] = (), **data: Any) -> None:
    """`trading` "Trading action: arbitrage_scan_started" with game, level, ...

    ``show`` names data keys to repeat in the message, as the operators' guide prints the trail:
    ``show=("game", "level")`` gives "Trading action: arbitrage_scan_started (game: csgo, level: standard)".
    """
    message = _with_details(f"Trading action: {action}", [f"{key}: {data[key]}" for key in show])
    sentry_sdk.add_breadcrumb(category="trading", message=message, level="info", data=data)


def add_http_breadcrumb(
    method: str, path: str, status_code: int | None, duration_ms: int, *, show_outcome: bool = False, **data: Any
) -> None:
    """`http` "API request: GET /exchange/v1/market/items" with status and duration in ms.

    ``show_outcome`` repeats them in the message as the guide prints it: "... /items (200, 450ms)".
    """
    level = "info" if status_code is not None and status_code < 400 else "warning"
    outcome = [f"{status_code if status_code is not None else 'no response'}, {duration_ms}ms"] if show_outcome else []
    sentry_sdk.add_breadcrumb(
        type="http",
        category="http",
        message=_with_details(f"API request: {method} {path}", outcome),
        level=level,
        data={"method": method, "url": path, "status_code": status_code, "duration_ms": duration_ms, **data},
    )


def add_error_breadcrumb(error_type: str, message: str, **data: Any) -> None:
    """`error` "RateLimitError - Too many requests"."""
    sentry_sdk.add_breadcrumb(category="error", message=f"{error_type} - {message}", level="error", data=data)


def add_database_breadcrumb(operation: str, **data: Any) -> None:
    """`database` "Database operation: insert scan"."""
    sentry_sdk.add_breadcrumb(category="database", message=f"Database operation: {operation}", level="info", data=data)


def set_component(component: str) -> None:
    """Tag the current scope with the component alert rules match on."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}, expected one of {sorted(COMPONENTS)}")
    sentry_sdk.set_tag("component", component)
