"""Crons monitors built from the SDK's ``check_in`` items, the way Sentry's check-in consumer builds them.

A check-in carrying ``monitor_config`` upserts its monitor (the SDK's ``monitor_config`` →
Sentry's stored ``config``); one without it only counts for a monitor that already exists. A closing
check-in (``ok``/``error``) with the ``check_in_id`` of an ``in_progress`` one updates that check-in
instead of adding one, so a job run is one check-in, as in Sentry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .models import ProjectInfo, now_ms, to_iso

SDK_STATUSES = frozenset({"in_progress", "ok", "error"})
TERMINAL = frozenset({"ok", "error"})
DEFAULT_ENVIRONMENT = "production"  # what Sentry files a check-in without an environment under
DEFAULT_MAX_RUNTIME_MIN = 30  # Sentry times out an in-progress check-in after this by default
MINUTE_MS = 60_000


@dataclass
class CheckIn:
    id: str  # Sentry shows the check-in guid as a dashed UUID
    environment: str
    status: str
    created_ms: int
    monitor_config: dict[str, Any]
    duration_ms: int | None = None

    def effective_status(self, max_runtime_min: int, now: int) -> str:
        """``timeout`` once an in-progress run outlives ``max_runtime`` (Sentry's clock marks it so)."""
        if self.status == "in_progress" and now > self.created_ms + max_runtime_min * MINUTE_MS:
            return "timeout"
        return self.status

    def as_api(self, max_runtime_min: int, now: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "environment": self.environment,
            "status": self.effective_status(max_runtime_min, now),
            "duration": self.duration_ms,
            "dateCreated": to_iso(self.created_ms),
            "expectedTime": None,
            "monitorConfig": self.monitor_config,
        }


@dataclass
class MonitorEnvironment:
    name: str
    created_ms: int
    status: str = "active"  # Sentry's MonitorStatus display: active until the first ok/error
    last_check_in_ms: int | None = None


@dataclass
class Monitor:
    id: str
    slug: str
    name: str
    config: dict[str, Any]
    created_ms: int
    environments: dict[str, MonitorEnvironment] = field(default_factory=dict)
    check_ins: list[CheckIn] = field(default_factory=list)  # arrival order

    @property
    def max_runtime_min(self) -> int:
        value = self.config.get("max_runtime")
        return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_RUNTIME_MIN

    def newest_check_ins(self) -> list[tuple[int, int, CheckIn]]:
        """``(created_ms, arrival index, check-in)``, newest first: a total order for pagination."""
        keyed = ((c.created_ms, i, c) for i, c in enumerate(self.check_ins))
        return sorted(keyed, key=lambda t: t[:2], reverse=True)

    def environment_status(self, env: MonitorEnvironment, now: int) -> str:
        latest = next((c for _, _, c in self.newest_check_ins() if c.environment == env.name), None)
        if latest is not None and latest.effective_status(self.max_runtime_min, now) == "timeout":
            return "timeout"
        return env.status

    def as_api(self, project: ProjectInfo) -> dict[str, Any]:
        now = now_ms()
        envs = sorted(self.environments.values(), key=lambda e: e.last_check_in_ms or 0, reverse=True)
        return {
            "id": self.id,
            "status": "active",
            "isMuted": False,
            "type": "cron_job",
            "name": self.name,
            "slug": self.slug,
            "config": self.config,
            "dateCreated": to_iso(self.created_ms),
            "project": project.as_api(),
            "environments": [
                {
                    "name": env.name,
                    "status": self.environment_status(env, now),
                    "isMuted": False,
                    "dateCreated": to_iso(self.created_ms),
                    "lastCheckIn": None if env.last_check_in_ms is None else to_iso(env.last_check_in_ms),
                    "nextCheckIn": None,
                    "nextCheckInLatest": None,
                    "activeIncident": None,
                }
                for env in envs
            ],
            "owner": None,
        }


def config_from_sdk(monitor_config: dict[str, Any]) -> dict[str, Any] | None:
    """The SDK's ``monitor_config`` → Sentry's stored monitor ``config``; None when it has no schedule."""
    schedule = monitor_config.get("schedule")
    if not isinstance(schedule, dict) or schedule.get("type") not in ("crontab", "interval"):
        return None
    if schedule["type"] == "crontab":
        value: Any = str(schedule.get("value", ""))
    else:
        value = [schedule.get("value"), schedule.get("unit")]
    return {
        "schedule_type": schedule["type"],
        "schedule": value,
        "checkin_margin": monitor_config.get("checkin_margin"),
        "max_runtime": monitor_config.get("max_runtime"),
        "timezone": monitor_config.get("timezone") or "UTC",
        "failure_issue_threshold": monitor_config.get("failure_issue_threshold"),
        "recovery_threshold": monitor_config.get("recovery_threshold"),
        "alert_rule_id": None,
    }


def _check_in_guid(raw: Any) -> str:
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        return str(uuid.uuid4())


def record_check_in(monitors: dict[str, Monitor], payload: dict[str, Any], received_ms: int) -> CheckIn | None:
    """Apply one check-in item; returns the check-in it created or updated, None when Sentry would drop it."""
    slug, status = payload.get("monitor_slug"), payload.get("status")
    if not isinstance(slug, str) or not slug or status not in SDK_STATUSES:
        return None
    monitor = monitors.get(slug)
    sdk_config = payload.get("monitor_config")
    config = config_from_sdk(sdk_config) if isinstance(sdk_config, dict) else None
    if config is not None:
        if monitor is None:
            monitor = monitors[slug] = Monitor(str(uuid.uuid4()), slug, slug, config, received_ms)
        else:
            monitor.config = config  # upsert: the SDK's config always wins
    if monitor is None:
        return None  # Sentry: "monitor not found" processing error, the check-in is dropped
    environment = str(payload.get("environment") or DEFAULT_ENVIRONMENT)
    env = monitor.environments.setdefault(environment, MonitorEnvironment(environment, received_ms))
    guid = _check_in_guid(payload.get("check_in_id"))
    duration = payload.get("duration")
    duration_ms = int(duration * 1000) if isinstance(duration, int | float) else None
    existing = next((c for c in monitor.check_ins if c.id == guid), None)
    if existing is not None:
        if existing.status in TERMINAL or status == "in_progress":
            return None  # a finished check-in cannot be updated again
        existing.status = str(status)
        existing.duration_ms = duration_ms if duration_ms is not None else received_ms - existing.created_ms
        check_in = existing
    else:
        check_in = CheckIn(guid, environment, str(status), received_ms, dict(monitor.config), duration_ms)
        monitor.check_ins.append(check_in)
    env.last_check_in_ms = received_ms
    if status in TERMINAL:
        env.status = str(status)
    return check_in
