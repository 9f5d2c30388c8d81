"""`celery -A tests.support.redbeat_app beat`: the test app with a fast schedule, for the RedBeat tests.

The production entries fire every minute at best; this schedule has one entry every 2 seconds (exactly-once
per period is visible within seconds) and one every minute (a supported Sentry Crons schedule, so the
integration's check-ins can be seen through RedBeat). The per-test RedBeat key prefix comes from the
environment, so concurrent runs and tests never share a lock or a schedule.
"""

from __future__ import annotations

import os

from celery.schedules import crontab

from tests.support.tasks import app

FAST_ENTRY = "tests-beat-fast"
MINUTE_ENTRY = "tests-beat-minute"
FAST_PERIOD_S = 2.0

app.conf.beat_schedule = {
    FAST_ENTRY: {"task": "tests.add", "schedule": FAST_PERIOD_S, "args": [1, 1], "options": {"queue": "scans"}},
    MINUTE_ENTRY: {"task": "tests.add", "schedule": crontab(minute="*"), "args": [2, 2], "options": {"queue": "scans"}},
}
if os.environ.get("TEST_REDBEAT_KEY_PREFIX"):
    app.conf.redbeat_key_prefix = os.environ["TEST_REDBEAT_KEY_PREFIX"]

__all__ = ["app"]
