"""beat_schedule.py, run by celery beat's own Scheduler on a fixed clock: the right task, arguments and queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import beat_schedule
from common.contract import ROUTES, TASK_CALLS, CleanupTask, UpkeepTask
from tests.support.beat import ClockedScheduler, FixedClock
from tests.support.tasks import app

CLEANUP_TASK = CleanupTask.NAME
CLEANUP_ENTRIES = ("sentry-cleanup-weekly-test-issues", "sentry-cleanup-monthly-old-issues")
CALLS = {call.NAME: call for call in TASK_CALLS}


def test_weekly_and_monthly_cleanups_fire_at_their_utc_times_with_the_operators_arguments() -> None:
    # Sunday 2026-03-01 00:00 UTC through Wednesday 2026-04-08: five Mondays and two first days of a month.
    clock = FixedClock(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    scheduler = ClockedScheduler(app, clock, names=CLEANUP_ENTRIES)
    for _ in scheduler.run_until(datetime(2026, 4, 8, tzinfo=UTC), step=timedelta(minutes=5)):
        pass

    fired = [(when.strftime("%a %Y-%m-%d %H:%M"), entry.name) for when, entry in scheduler.fired]
    assert fired == [
        ("Sun 2026-03-01 04:00", "sentry-cleanup-monthly-old-issues"),
        ("Mon 2026-03-02 03:00", "sentry-cleanup-weekly-test-issues"),
        ("Mon 2026-03-09 03:00", "sentry-cleanup-weekly-test-issues"),
        ("Mon 2026-03-16 03:00", "sentry-cleanup-weekly-test-issues"),
        ("Mon 2026-03-23 03:00", "sentry-cleanup-weekly-test-issues"),
        ("Mon 2026-03-30 03:00", "sentry-cleanup-weekly-test-issues"),
        ("Wed 2026-04-01 04:00", "sentry-cleanup-monthly-old-issues"),
        ("Mon 2026-04-06 03:00", "sentry-cleanup-weekly-test-issues"),
    ]
    by_name = {entry.name: entry for _, entry in scheduler.fired}
    weekly, monthly = by_name["sentry-cleanup-weekly-test-issues"], by_name["sentry-cleanup-monthly-old-issues"]
    assert weekly.task == monthly.task == CLEANUP_TASK
    assert weekly.kwargs == {"test_only": True, "execute": True, "trigger": "beat"}
    assert weekly.args == ()
    assert monthly.kwargs == {"older_than_days": 30, "delete": True, "execute": True, "trigger": "beat"}
    assert weekly.options["queue"] == monthly.options["queue"] == "maintenance"


def test_the_upkeep_runs_every_minute_on_the_interactive_pool_and_expires_before_the_next() -> None:
    clock = FixedClock(datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC))
    scheduler = ClockedScheduler(app, clock, names=["upkeep-every-minute"])
    for _ in scheduler.run_until(datetime(2026, 3, 1, 0, 5, 30, tzinfo=UTC), step=timedelta(seconds=10)):
        pass
    fired = [when.strftime("%H:%M:%S") for when, _ in scheduler.fired]
    assert fired == ["00:01:00", "00:02:00", "00:03:00", "00:04:00", "00:05:00"]
    [entry] = {entry.name: entry for _, entry in scheduler.fired}.values()
    assert (entry.task, entry.options["queue"], entry.options["expires"]) == (UpkeepTask.NAME, "default", 55)
    assert ROUTES[UpkeepTask.NAME] == "default"


def test_the_schedule_is_plain_data_the_contract_accepts_with_valid_monitor_slugs() -> None:
    app.loader.import_default_modules()  # what a worker does at start-up: every task in `imports` registered
    for name, entry in beat_schedule.SCHEDULE.items():
        # Sentry Crons monitor slugs: lowercase letters, digits and dashes, at most 50 characters.
        assert name.replace("-", "").isalnum()
        assert name == name.lower()
        assert len(name) <= 50
        # Numbers, "*" or a step "*/N": what celery's crontab and a Sentry Crons crontab schedule both read.
        assert all(
            isinstance(value, int) or value == "*" or re.fullmatch(r"\*/[1-9]\d*", str(value))
            for value in entry["crontab"].values()
        )
        assert entry["task"] in app.tasks
        assert entry["options"]["queue"] == ROUTES[entry["task"]]
        CALLS[entry["task"]].from_kwargs(entry.get("kwargs", {}))  # what beat sends is what the contract accepts
    assert app.conf.task_routes[CLEANUP_TASK] == {"queue": "maintenance"}
    task = app.tasks[CLEANUP_TASK]
    assert task.acks_late
    assert task.soft_time_limit < task.time_limit


def test_the_alert_digest_runs_every_30_minutes_on_the_alerts_queue() -> None:
    clock = FixedClock(datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC))
    scheduler = ClockedScheduler(app, clock, names=["sentry-alerts-digest-every-30-min"])
    for _ in scheduler.run_until(datetime(2026, 3, 1, 1, 31, tzinfo=UTC), step=timedelta(minutes=1)):
        pass
    assert [when.strftime("%H:%M") for when, _ in scheduler.fired] == ["00:30", "01:00", "01:30"]
    entry = scheduler.fired[0][1]
    assert (entry.task, entry.options["queue"]) == ("alerts.digest", "alerts")


def test_the_schedule_is_read_in_celery_timezone_and_crons_monitors_say_that_zone() -> None:
    from sentry_sdk.integrations.celery.beat import _get_monitor_config

    from tests.support.settings import make_settings
    from worker.app import create_app

    # Monday 03:00 in Kolkata (UTC+5:30) is Sunday 21:30 UTC; the 1st, 04:00 there is the 31st, 22:30 UTC.
    kolkata = create_app(make_settings(celery_timezone="Asia/Kolkata"))
    clock = FixedClock(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    scheduler = ClockedScheduler(kolkata, clock, names=CLEANUP_ENTRIES)
    for _ in scheduler.run_until(datetime(2026, 4, 2, tzinfo=UTC), step=timedelta(minutes=5)):
        pass
    fired = [(when.strftime("%a %Y-%m-%d %H:%M"), entry.name) for when, entry in scheduler.fired][:3]
    assert fired == [
        ("Sun 2026-03-01 21:30", "sentry-cleanup-weekly-test-issues"),
        ("Sun 2026-03-08 21:30", "sentry-cleanup-weekly-test-issues"),
        ("Sun 2026-03-15 21:30", "sentry-cleanup-weekly-test-issues"),
    ]
    assert ("Tue 2026-03-31 22:30", "sentry-cleanup-monthly-old-issues") in [
        (when.strftime("%a %Y-%m-%d %H:%M"), entry.name) for when, entry in scheduler.fired
    ]
    # What sentry-sdk's beat patch tells Sentry about the entry: the same crontab, in the same zone.
    entry = scheduler.schedule["sentry-cleanup-weekly-test-issues"]
    config = _get_monitor_config(entry.schedule, kolkata, entry.name)
    assert config == {"schedule": {"type": "crontab", "value": "0 3 * * 1"}, "timezone": "Asia/Kolkata"}
