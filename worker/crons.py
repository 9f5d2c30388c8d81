"""Fire one beat entry now, exactly the way celery beat does, so its Sentry Crons check-in can be seen at once.

Beat entries run weekly or monthly: waiting for one to see a check-in is not a way to check the set-up. This
builds celery beat's own ``Scheduler`` over the same schedule and calls ``Scheduler.apply_entry`` — the
method beat's tick calls, and the one sentry-sdk patches (``sentry_sdk/integrations/celery/beat.py``): it
sends the ``in_progress`` check-in with the monitor's config (slug, crontab, timezone) and puts the monitor
headers on the task, so the worker that runs it sends ``ok`` or ``error`` for the same check-in.

The scheduler is in memory: the running beat's schedule file and its next run are left alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.beat import ScheduleEntry, Scheduler

import beat_schedule

CHECK_IN_ID_HEADER = "sentry-monitor-check-in-id"
MONITOR_CONFIG_HEADER = "sentry-monitor-config"


class UnknownEntry(ValueError):
    """The name is not an entry of beat_schedule.py; the message lists the entries."""


class NotSent(RuntimeError):
    """The broker refused the task (beat itself would only log this); the message says why."""


@dataclass(frozen=True)
class FiredEntry:
    """What was sent: the task, and the Crons check-in sentry-sdk opened for it (None when Sentry is off)."""

    name: str
    task: str
    task_id: str
    queue: str
    check_in_id: str | None
    monitor_config: dict[str, Any] | None


class _OneShotScheduler(Scheduler):  # type: ignore[misc]
    """Beat's stock in-memory scheduler that remembers the send's outcome (``apply_entry`` only logs it)."""

    sent: Any = None
    error: BaseException | None = None

    def apply_async(self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        try:
            self.sent = super().apply_async(entry, producer, advance, **kwargs)
        except Exception as exc:
            self.error = exc
            raise
        return self.sent


def entry_names() -> list[str]:
    return sorted(beat_schedule.SCHEDULE)


def fire_entry(app: Celery, name: str, task_id: str | None = None) -> FiredEntry:
    """Send beat entry ``name`` now through beat's own ``apply_entry`` (Sentry initialised as in beat first)."""
    if name not in beat_schedule.SCHEDULE:
        raise UnknownEntry(f"no beat entry {name!r}; the entries are: {', '.join(entry_names())}")
    scheduler = _OneShotScheduler(app, lazy=False)
    try:
        entry = scheduler.schedule[name]
        # A copy: sentry-sdk keeps its monitor headers in the options, which are shared with the app's schedule.
        entry.options = {**entry.options, "task_id": task_id or str(uuid.uuid4())}
        # Positional entry, keyword producer: exactly how Scheduler.tick calls it (sentry-sdk's patch relies on it).
        scheduler.apply_entry(entry, producer=scheduler.producer)
        if scheduler.error is not None or scheduler.sent is None:
            raise NotSent(f"{name} ({entry.task}) was not sent: {scheduler.error!r}")
        headers = entry.options.get("headers") or {}
        return FiredEntry(
            name=name,
            task=entry.task,
            task_id=str(scheduler.sent.id),
            queue=str(entry.options.get("queue", "default")),
            check_in_id=headers.get(CHECK_IN_ID_HEADER),
            monitor_config=headers.get(MONITOR_CONFIG_HEADER),
        )
    finally:
        scheduler.close()


def describe_monitor(config: dict[str, Any] | None) -> str:
    """``crontab '0 3 * * 1', timezone UTC`` for a monitor config sentry-sdk built."""
    if not config:
        return "no monitor config"
    schedule = config.get("schedule") or {}
    return f"{schedule.get('type')} {schedule.get('value')!r}, timezone {config.get('timezone')}"
