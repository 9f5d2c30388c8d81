"""`python -m worker doctor`: the production checklist, checked against the Sentry sandbox and real workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk

from common.observability.sdk import init_sentry
from common.settings import Settings
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.support.workers import WorkerProcess
from worker.doctor import Report, Verdict, format_report, run_doctor, scrubbed
from worker.sentry_api import sentry_api_from_settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Not the sandbox's demo token: production settings refuse that one.
PRODUCTION_TOKEN = "doctor-test-token-0123456789abcdef"
MONITORS = ("sentry-cleanup-weekly-test-issues", "sentry-cleanup-monthly-old-issues")


def _doctor_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", "doctor", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_any_configuration_it_fails_and_names_sentry_dsn_first() -> None:
    # Redis on a port nobody listens on: the doctor says so instead of hanging.
    result = _doctor_cli("--json", env={"REDIS_URL": "redis://127.0.0.1:1/0", "SENTRY_ENVIRONMENT": "development"})
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    first = report["checks"][0]
    assert (first["key"], first["state"]) == ("sentry_dsn", "fail")
    assert "SENTRY_DSN" in first["reason"]
    assert "SENTRY_DSN=" in first["fix"]
    states = {check["key"]: check["state"] for check in report["checks"]}
    assert states["redis"] == "fail"
    assert states["workers"] == "skip"
    assert states["alert_rules"] == "skip"
    assert states["beat_schedule"] == "ok"

    text = _doctor_cli(env={"REDIS_URL": "redis://127.0.0.1:1/0", "BOT_LANGUAGE": "en"})
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    assert lines[1].startswith("❌ sentry_dsn: SENTRY_DSN is not set")
    assert lines[-1] == "Not ready: 5 ❌."


def test_help_and_a_bad_configuration() -> None:
    helped = _doctor_cli("--help")
    assert helped.returncode == 0
    assert "production checklist" in helped.stdout
    assert "--json" in helped.stdout
    bad = _doctor_cli("--json", env={"SENTRY_TRACES_SAMPLE_RATE": "2"})
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["checks"][0]["reason"].count("SENTRY_TRACES_SAMPLE_RATE") == 1
    assert "Traceback" not in bad.stderr


@pytest.fixture
def production(sentry_sandbox: SentrySandbox, settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings of a production deployment whose Sentry is the sandbox (with a token of its own)."""
    sentry_sandbox.client.configure(tokens={PRODUCTION_TOKEN: None})

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "sentry_dsn": sentry_sandbox.dsn,
            "sentry_environment": "production",
            "sentry_traces_sample_rate": 0.1,
            "sentry_api_url": sentry_sandbox.api_url,
            "sentry_auth_token": PRODUCTION_TOKEN,
            "sentry_organization": sentry_sandbox.org,
            "sentry_project": sentry_sandbox.project,
            "bot_language": "en",
        }
        return settings_factory(**{**values, **overrides})

    return make


@pytest.fixture
def doctor_sentry() -> Iterator[Callable[[Settings], None]]:
    """Sentry initialised in this process as the doctor's own (its test event leaves from here)."""

    def init(settings: Settings) -> None:
        init_sentry(settings, process="doctor")

    yield init
    sentry_sdk.get_client().close()
    sentry_sdk.init(default_integrations=False)


def _check_in_every_cleanup_monitor() -> None:
    """What beat's Sentry integration sends when the cleanup entries run."""
    for slug in MONITORS:
        config = {"schedule": {"type": "crontab", "value": "0 3 * * 1"}, "timezone": "UTC"}
        check_in = sentry_sdk.crons.capture_checkin(monitor_slug=slug, status="in_progress", monitor_config=config)
        sentry_sdk.crons.capture_checkin(monitor_slug=slug, check_in_id=check_in, status="ok", duration=1.5)
    sentry_sdk.flush(timeout=5)


def _states(report: Report) -> dict[str, Verdict]:
    return {check.key: check.verdict for check in report.checks}


def test_a_production_ready_deployment_passes_and_its_test_event_is_resolved(
    production: Callable[..., Settings],
    sentry_sandbox: SentrySandbox,
    worker_process: Callable[..., WorkerProcess],
    celery_app: Any,
    doctor_sentry: Callable[[Settings], None],
) -> None:
    settings = production()
    worker_process(settings=settings)
    doctor_sentry(settings)
    _check_in_every_cleanup_monitor()
    sentry_sandbox.client.wait_for_check_ins(count=2 * len(MONITORS))

    report = run_doctor(settings, celery_app, "en", lambda: sentry_api_from_settings(settings))

    text = format_report(report, "en")
    assert report.ok, text
    assert all(verdict is Verdict.OK for key, verdict in _states(report).items() if key != "alert_rules"), text
    assert _states(report)["alert_rules"] is Verdict.SKIP
    # The test event reached Sentry with the scan's trail, and its issue is resolved, not left behind.
    (event,) = [e["payload"] for e in sentry_sandbox.client.events(type="event")]
    assert dict(event["tags"])["test"] == "true"
    assert any(crumb["category"] == "trading" for crumb in event["breadcrumbs"]["values"])
    issues = sentry_sandbox.client.issues()
    assert [issue["status"] for issue in issues] == ["resolved"]
    assert "with its breadcrumbs" in text
    assert str(issues[0]["id"]) in text
    # No secret in what it prints.
    printed = scrubbed(text, settings) + json.dumps(report.as_dict())
    assert PRODUCTION_TOKEN not in printed
    assert sentry_sandbox.dsn not in printed


def test_what_is_wrong_is_a_cross_with_its_fix(
    production: Callable[..., Settings],
    sentry_sandbox: SentrySandbox,
    worker_process: Callable[..., WorkerProcess],
    celery_app: Any,
    doctor_sentry: Callable[[Settings], None],
) -> None:
    settings = production()
    # A worker started without SENTRY_DSN, consuming one queue only; a test issue left over; beat never ran.
    worker_process(settings=production(sentry_dsn=None), queues="scans")
    (leftover,) = sentry_sandbox.client.seed_issues([{"title": "Old test", "tags": {"test": "true"}}])
    doctor_sentry(settings)

    report = run_doctor(settings, celery_app, "en", lambda: sentry_api_from_settings(settings))

    states = _states(report)
    assert not report.ok
    assert states["workers"] is Verdict.FAIL
    assert states["queues"] is Verdict.FAIL
    assert states["test_issues"] is Verdict.FAIL
    assert states["crons"] is Verdict.FAIL
    assert states["test_event"] is Verdict.OK  # its own test event is not a leftover
    by_key = {check.key: check for check in report.checks}
    assert "not initialised" in by_key["workers"].reason
    assert by_key["workers"].fix
    assert "sentry,maintenance,default" in by_key["queues"].reason
    assert leftover in by_key["test_issues"].reason
    assert "sentry_cleanup.py --test-only --execute" in by_key["test_issues"].fix
    assert "never checked in" in by_key["crons"].reason
