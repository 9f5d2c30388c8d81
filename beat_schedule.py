"""The Celery beat schedule, as data only. `worker.app` turns it into Celery's schedule.

Each entry: name -> {"task": dotted task name, "crontab": crontab fields (numbers or "*", in CELERY_TIMEZONE,
UTC unless set),
"args"/"kwargs": plain JSON values, "options": {"queue": ...}}. The entry name is also the
Sentry Crons monitor slug (sentry-sdk's Celery integration with monitor_beat_tasks=True).
"""

from __future__ import annotations

from typing import Any

SCHEDULE: dict[str, dict[str, Any]] = {
    # The Telegram outbox and the janitor of abandoned scans (worker/tasks/upkeep.py). A run left in the queue
    # past the next minute is dropped (`expires`): the next one does the same work.
    "upkeep-every-minute": {
        "task": "upkeep.run",
        "crontab": {"minute": "*"},
        "options": {"queue": "default", "expires": 55},
    },
    # Watch subscriptions (issue 16, docs/arbitrage.md): every minute, queue a sweep of each watched band whose
    # WATCH_PERIOD_MIN period is due; the sweep row (band + period) makes each period's sweep happen once.
    "watch-sweep-every-minute": {
        "task": "watch.sweep",
        "crontab": {"minute": "*"},
        "options": {"queue": "default", "expires": 55},
    },
    # Sentry cleanup (issue 6, docs/sentry-cleanup.md): the operators' weekly and monthly routine.
    "sentry-cleanup-weekly-test-issues": {
        "task": "cleanup.run",
        "crontab": {"minute": 0, "hour": 3, "day_of_week": 1},  # Monday 03:00 (CELERY_TIMEZONE, UTC by default)
        "kwargs": {"test_only": True, "execute": True, "trigger": "beat"},
        "options": {"queue": "maintenance"},
    },
    "sentry-cleanup-monthly-old-issues": {
        "task": "cleanup.run",
        "crontab": {"minute": 0, "hour": 4, "day_of_month": 1},  # the 1st, 04:00 (CELERY_TIMEZONE)
        "kwargs": {"older_than_days": 30, "delete": True, "execute": True, "trigger": "beat"},
        "options": {"queue": "maintenance"},
    },
    # Sentry alerts (docs/alerts.md): the tier-2 digest, sent only when a counter is over its threshold.
    "sentry-alerts-digest-every-30-min": {
        "task": "alerts.digest",
        "crontab": {"minute": "*/30"},
        "options": {"queue": "alerts", "expires": 25 * 60},
    },
}
