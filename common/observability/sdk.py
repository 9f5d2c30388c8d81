"""Sentry initialisation, once per process, with the scrubbing hooks; what /sentry_info reports of it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sentry_sdk
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint

from common.observability.failures import Failure
from common.observability.scrubbing import Scrubber
from common.settings import Settings

log = logging.getLogger(__name__)


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


def _redundant(event: Event, hint: Hint) -> bool:
    """An event that repeats another one's news: a killed pool process is reported once, by the pool.

    When a prefork child dies mid-task, the pool logs "Process ... exited with ..." (the one real problem) and
    the task's request logs "Task handler raised error: WorkerLostError" (the same death, seen again); with
    acks_late and reject_on_worker_lost the task itself is requeued, so the second line adds nothing.
    """
    if event.get("logger") != "celery.worker.request":
        return False
    values = (event.get("exception") or {}).get("values") or []
    return any(value.get("type") == "WorkerLostError" for value in values)


def _make_hooks(scrubber: Scrubber) -> dict[str, Any]:
    def before_send(event: Event, hint: Hint) -> Event | None:
        # Crons check-ins pass through here too; they must be scrubbed, never dropped.
        if event.get("type") != "check_in" and _redundant(event, hint):
            return None
        scrubbed: Event = scrubber.data(event)
        return scrubbed

    def before_send_transaction(event: Event, hint: Hint) -> Event | None:
        if event.get("transaction") in IGNORED_TRANSACTIONS:
            return None
        scrubbed: Event = scrubber.data(event)
        return scrubbed

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

    # Imported here: each integration module imports its library (celery, redis, ...) at import time.
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.httpx import HttpxIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.redis import RedisIntegration
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

    dsn = settings.sentry_dsn.get_secret_value()
    integrations = [
        CeleryIntegration(monitor_beat_tasks=True, propagate_traces=True),
        LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        SqlalchemyIntegration(),
        HttpxIntegration(),
    ]
    client_options.setdefault("disabled_integrations", [])
    # Redis is the broker, the result store and the slot and rate-limit keeper: its integration (auto-enabled
    # when redis-py is present) turned each task into ~9 spans and 8 breadcrumbs of plumbing, which cost more
    # than the task and pushed the guide's trail out of view. The Celery spans say what the queue did.
    client_options["disabled_integrations"] = [*client_options["disabled_integrations"], RedisIntegration()]
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


def capture_failure(
    error: BaseException, failure: Failure, fingerprint: list[str] | None = None, **tags: str
) -> str | None:
    """Report ``error`` once, as the failure table says: its component, level and grouping; the event id.

    The original exception goes out (so rules on its type match), in a scope of its own, so the tags do not
    stick to later events of the same task. ``fingerprint`` replaces the table's grouping (a test event's own).
    """
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("component", failure.component)
        scope.set_tag("failure", failure.kind)
        for key, value in tags.items():
            scope.set_tag(key, value)
        scope.set_level(failure.level)
        scope.fingerprint = fingerprint or failure.fingerprint(type(error).__name__)
        return sentry_sdk.capture_exception(error)
