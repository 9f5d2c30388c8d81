"""Sentry initialisation (once per process), scrubbing hooks and the breadcrumb helpers operators know."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.httpx import HttpxIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.redis import RedisIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint

from common.scrubbing import Scrubber
from common.settings import Settings

log = logging.getLogger(__name__)

# Tag values alert rules match on (DESIGN.md §5).
COMPONENTS = frozenset({"telegram", "trading", "api", "database", "maintenance"})


@dataclass(frozen=True)
class SentryStatus:
    """What /sentry_info shows for one process. Never holds the DSN key."""

    enabled: bool
    process: str
    dsn_host: str | None = None
    project_id: str | None = None
    environment: str | None = None
    release: str | None = None
    traces_sample_rate: float | None = None
    sdk_version: str = sentry_sdk.VERSION
    integrations: tuple[str, ...] = field(default_factory=tuple)
    monitor_beat_tasks: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "integrations": list(self.integrations)}


_status: SentryStatus | None = None


# Health probes run every few seconds; tracing them would drown real transactions and spend quota.
IGNORED_TRANSACTIONS = frozenset({"/healthz"})


def _make_hooks(scrubber: Scrubber) -> dict[str, Any]:
    def before_send(event: Event, hint: Hint) -> Event:
        # Crons check-ins pass through here too; they must be scrubbed, never dropped.
        scrubbed: Event = scrubber.data(event)
        return scrubbed

    def before_send_transaction(event: Event, hint: Hint) -> Event | None:
        if event.get("transaction") in IGNORED_TRANSACTIONS:
            return None
        return before_send(event, hint)

    def before_breadcrumb(crumb: Breadcrumb, hint: BreadcrumbHint) -> Breadcrumb:
        scrubbed: Breadcrumb = scrubber.data(crumb)
        return scrubbed

    return {
        "before_send": before_send,
        "before_send_transaction": before_send_transaction,
        "before_breadcrumb": before_breadcrumb,
    }


def init_sentry(settings: Settings, process: str, **client_options: Any) -> SentryStatus:
    """Initialise sentry-sdk for this process (bot, worker or beat); a no-op that reports 'off' without a DSN.

    ``client_options`` is for tests (e.g. a capturing ``transport``); production passes nothing.
    """
    global _status
    if settings.sentry_dsn is None:
        # The rest of the configuration is still shown by /sentry_info, so an operator sees what is missing.
        _status = SentryStatus(
            enabled=False,
            process=process,
            environment=settings.sentry_environment,
            release=settings.sentry_release,
            traces_sample_rate=settings.sentry_traces_sample_rate,
        )
        log.info("Sentry is off: SENTRY_DSN is not set (%s)", process)
        return _status

    dsn = settings.sentry_dsn.get_secret_value()
    integrations = [
        CeleryIntegration(monitor_beat_tasks=True, propagate_traces=True),
        LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        SqlalchemyIntegration(),
        RedisIntegration(),
        HttpxIntegration(),
    ]
    sentry_sdk.init(
        dsn=dsn,
        environment=settings.sentry_environment,
        release=settings.sentry_release,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        integrations=integrations,
        debug=settings.sentry_debug,
        max_breadcrumbs=100,
        **_make_hooks(Scrubber(settings.secret_values())),
        **client_options,
    )
    sentry_sdk.set_tag("process", process)
    parts = urlsplit(dsn)
    _status = SentryStatus(
        enabled=True,
        process=process,
        dsn_host=parts.hostname,
        project_id=parts.path.rstrip("/").rsplit("/", 1)[-1],
        environment=settings.sentry_environment,
        release=settings.sentry_release,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        # What the client really enabled: ours, the defaults, and any auto-enabled ones whose library is present
        # (an integration whose set-up failed is missing here, which is exactly what /sentry_info must show).
        integrations=tuple(sorted(sentry_sdk.get_client().integrations)),
        monitor_beat_tasks=True,
    )
    log.info(
        "Sentry is on (%s): host=%s project=%s environment=%s traces=%s",
        process,
        _status.dsn_host,
        _status.project_id,
        _status.environment,
        _status.traces_sample_rate,
    )
    return _status


def sentry_status(process: str = "unknown") -> SentryStatus:
    """The status recorded by :func:`init_sentry` in this process."""
    return _status or SentryStatus(enabled=False, process=process)


# Breadcrumbs -------------------------------------------------------------------------------------


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
