"""Sentry Crons from a standalone `celery beat` process: a real beat, a real prefork worker, the Sentry sandbox.

sentry-python's tracker says monitors break with a standalone beat (getsentry/sentry-python#2823: Sentry was
initialised only in ``celeryd_init``) and with non-UTC zones (#2472). Here beat is its own process, initialised
in ``beat_init`` like production; the entry is the production one (slug, crontab), and the zone is
``CELERY_TIMEZONE`` in both processes. ``scripts/beat_now.py``, the operators' way to see a check-in now, is
tested the same way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import beat_schedule
from common.db.migrate import upgrade
from common.settings import Settings
from tests.conftest import ROOT, WorkerProcess
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.support.beat import running_beat
from tests.support.settings import make_settings, settings_env

WEEKLY = "sentry-cleanup-weekly-test-issues"
WEEKLY_CRONTAB = "0 3 * * 1"
TIMEOUT_S = 30.0
Record = dict[str, Any]


@pytest.fixture
def crons_settings(sentry_sandbox: SentrySandbox, tmp_path: Path) -> Callable[[str], Settings]:
    """Factory: settings of beat and the worker in ``zone``, Sentry and its Web API on the sandbox."""

    def make(zone: str) -> Settings:
        database_url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
        upgrade(database_url)
        return make_settings(
            sentry_dsn=sentry_sandbox.client.dsn("0123456789abcdef0123456789abcdef"),
            sentry_api_url=sentry_sandbox.url,
            sentry_auth_token=sentry_sandbox.token,
            sentry_organization=sentry_sandbox.org,
            sentry_project=str(sentry_sandbox.project_id),
            database_url=database_url,
            celery_timezone=zone,
        )

    return make


def process_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings_env(settings)}


def closed_run(sandbox: SentrySandbox, slug: str) -> list[Record]:
    """Wait until the run of ``slug`` is closed (ok or error); every check-in of it, in arrival order."""
    sandbox.client.wait_for_check_ins(
        lambda c: c["payload"].get("monitor_slug") == slug and c["payload"].get("status") in ("ok", "error"),
        timeout_s=TIMEOUT_S,
    )
    return [c["payload"] for c in sandbox.client.check_ins() if c["payload"].get("monitor_slug") == slug]


def assert_one_run(check_ins: list[Record], closing: str, zone: str) -> str:
    """One run: in_progress, then ``closing``, one check-in id, the entry's crontab in ``zone``; the id."""
    assert [c["status"] for c in check_ins] == ["in_progress", closing]
    assert len({c["check_in_id"] for c in check_ins}) == 1
    for check_in in check_ins:
        assert check_in["monitor_config"] == {
            "schedule": {"type": "crontab", "value": WEEKLY_CRONTAB},
            "timezone": zone,
        }
        assert check_in["environment"] == "test"
    assert check_ins[1]["duration"] > 0
    return str(check_ins[0]["check_in_id"])


def assert_monitor(sandbox: SentrySandbox, status: str, zone: str) -> None:
    """What Sentry's Crons page shows: the monitor upserted from the check-ins, its zone, its last status."""
    [monitor] = [m for m in sandbox.client.monitors() if m["slug"] == WEEKLY]
    assert (monitor["config"]["schedule_type"], monitor["config"]["schedule"]) == ("crontab", WEEKLY_CRONTAB)
    assert monitor["config"]["timezone"] == zone
    assert [(env["name"], env["status"]) for env in monitor["environments"]] == [("test", status)]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_a_standalone_beat_and_a_worker_report_a_run_in_progress_then_ok(
    sentry_sandbox: SentrySandbox,
    crons_settings: Callable[[str], Settings],
    worker_process: Callable[..., WorkerProcess],
    tmp_path: Path,
    zone: str,
) -> None:
    settings = crons_settings(zone)
    worker = worker_process(settings=settings, queues="maintenance")
    with running_beat(
        "tests.support.tasks", env=process_env(settings), log_path=tmp_path / "beat.log", catch_up=[WEEKLY]
    ) as beat:
        check_ins = closed_run(sentry_sandbox, WEEKLY)
        assert beat.alive(), beat.log_tail()
    assert_one_run(check_ins, "ok", zone)
    assert_monitor(sentry_sandbox, "ok", zone)
    # Two processes: beat sent the task (and the in_progress check-in), the worker ran it (and closed it).
    assert f"Sending due task {WEEKLY} (cleanup.run)" in beat.log()
    assert re.search(r"Task cleanup\.run\[[0-9a-f-]+\] succeeded", worker.log()), worker.log_tail()


def test_a_failed_beat_run_closes_its_check_in_with_error(
    sentry_sandbox: SentrySandbox,
    crons_settings: Callable[[str], Settings],
    worker_process: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    sentry_sandbox.client.configure(tokens={sentry_sandbox.token: ["event:read"]})  # may list, may not resolve
    sentry_sandbox.client.seed_issues([{"title": "ValueError: Test error: boom", "tags": {"test": "true"}}])
    settings = crons_settings("America/New_York")
    worker_process(settings=settings, queues="maintenance")
    with running_beat(
        "tests.support.tasks", env=process_env(settings), log_path=tmp_path / "beat.log", catch_up=[WEEKLY]
    ):
        check_ins = closed_run(sentry_sandbox, WEEKLY)
    assert_one_run(check_ins, "error", "America/New_York")
    assert_monitor(sentry_sandbox, "error", "America/New_York")


def beat_now(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "scripts/beat_now.py", "-A", "tests.support.tasks", *args]
    return subprocess.run(
        argv, cwd=ROOT, env=process_env(settings), capture_output=True, text=True, timeout=TIMEOUT_S + 30, check=False
    )


def test_beat_now_fires_an_entry_as_beat_does_and_shows_its_closed_check_in(
    sentry_sandbox: SentrySandbox,
    crons_settings: Callable[[str], Settings],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    settings = crons_settings("Europe/Moscow")
    worker_process(settings=settings, queues="maintenance")
    done = beat_now(settings, WEEKLY, "--wait", str(TIMEOUT_S))
    assert done.returncode == 0, done.stdout + done.stderr
    check_in_id = assert_one_run(closed_run(sentry_sandbox, WEEKLY), "ok", "Europe/Moscow")
    assert (
        f"Crons: check-in {check_in_id} in_progress, monitor {WEEKLY} (crontab '0 3 * * 1', timezone Europe/Moscow)"
        in done.stdout
    )
    assert f"Sentry shows check-in {check_in_id} of monitor {WEEKLY}: ok" in done.stdout
    assert sentry_sandbox.token not in done.stdout + done.stderr


def test_beat_now_reports_a_failed_run_and_refuses_an_unknown_entry(
    sentry_sandbox: SentrySandbox,
    crons_settings: Callable[[str], Settings],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    settings = crons_settings("UTC")
    unknown = beat_now(settings, "weekly")
    assert unknown.returncode == 2
    assert f"no beat entry 'weekly'; the entries are: {', '.join(sorted(beat_schedule.SCHEDULE))}" in unknown.stderr

    sentry_sandbox.client.configure(tokens={sentry_sandbox.token: ["event:read", "project:read"]})
    sentry_sandbox.client.seed_issues([{"title": "ValueError: Test error: boom", "tags": {"test": "true"}}])
    worker_process(settings=settings, queues="maintenance")
    failed = beat_now(settings, WEEKLY, "--wait", str(TIMEOUT_S))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    check_in_id = assert_one_run(closed_run(sentry_sandbox, WEEKLY), "error", "UTC")
    assert "Task FAILURE; the worker closes the check-in as error" in failed.stdout
    assert f"Sentry shows check-in {check_in_id} of monitor {WEEKLY}: error" in failed.stdout


def test_reading_check_ins_without_the_scope_names_the_scope_and_an_unknown_monitor_has_none(
    sentry_sandbox: SentrySandbox, crons_settings: Callable[[str], Settings]
) -> None:
    from worker.sentry_api import SentryAuthError, sentry_api_from_settings

    with sentry_api_from_settings(crons_settings("UTC")) as api:
        assert api.monitor_check_ins("no-such-monitor") == []
        with pytest.raises(ValueError, match="a monitor slug is lowercase"):
            api.monitor_check_ins("../issues")
        sentry_sandbox.client.configure(tokens={sentry_sandbox.token: ["event:read"]})
        with pytest.raises(SentryAuthError, match=r"read Crons check-ins .*alerts:read scope"):
            api.monitor_check_ins(WEEKLY)
