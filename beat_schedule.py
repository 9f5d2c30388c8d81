"""The Celery beat schedule, as data only. `worker.celery_app` turns it into Celery's schedule.

Each entry: name -> {"task": dotted task name, "crontab": numeric crontab fields (UTC),
"args"/"kwargs": plain JSON values, "options": {"queue": ...}}. The entry name is also the
Sentry Crons monitor slug (sentry-sdk's Celery integration with monitor_beat_tasks=True).
"""

from __future__ import annotations

from typing import Any

SCHEDULE: dict[str, dict[str, Any]] = {}
