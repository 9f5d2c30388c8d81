"""scripts/sentry_alerts.py as operators run it (a subprocess) against the Sentry sandbox's rules endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.sandbox_sentry import SentrySandbox

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["Bot crashed", "Trading failed", "Auth failed", "Database down", "Rate limit", "API errors spike"]


@pytest.fixture
def env(sentry_sandbox: SentrySandbox) -> dict[str, str]:
    return {
        **os.environ,
        "SENTRY_API_URL": sentry_sandbox.url,
        "SENTRY_AUTH_TOKEN": sentry_sandbox.token,
        "SENTRY_ORGANIZATION": sentry_sandbox.org,
        "SENTRY_PROJECT": sentry_sandbox.project,
        "SENTRY_ALERT_INSTALLATION_UUID": sentry_sandbox.installation_uuid,
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sentry_alerts.py"), *args],
        env=env,
        cwd=ROOT / "docs",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def rules(sandbox: SentrySandbox) -> list[dict[str, object]]:
    import httpx

    answer = httpx.get(
        f"{sandbox.url}/api/0/projects/{sandbox.org}/{sandbox.project}/rules/",
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=10,
    )
    answer.raise_for_status()
    listed: list[dict[str, object]] = answer.json()
    return listed


def test_preview_changes_nothing_apply_creates_the_six_rules_once_and_a_second_run_has_no_changes(
    sentry_sandbox: SentrySandbox, env: dict[str, str]
) -> None:
    preview = cli(env)
    assert preview.returncode == 0, preview.stderr
    assert all(f"+ {name}: create" in preview.stdout for name in NAMES)
    assert "cannot be a Sentry rule" in preview.stdout  # what Sentry cannot express is said
    assert rules(sentry_sandbox) == []

    applied = cli(env, "--apply")
    assert applied.returncode == 0, applied.stderr
    stored = rules(sentry_sandbox)
    assert sorted(str(rule["name"]) for rule in stored) == sorted(NAMES)

    again = cli(env, "--apply", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["changes"] == 0
    assert {rule["change"] for rule in report["rules"]} == {"unchanged"}
    assert len(rules(sentry_sandbox)) == 6
    assert "No changes" in cli(env).stdout
    puts_and_posts = [r for r in sentry_sandbox.client.requests_log() if r["method"] in ("POST", "PUT")]
    assert len(puts_and_posts) == 6  # the six creations, nothing after


def test_a_rule_changed_in_sentry_is_put_back_whole(sentry_sandbox: SentrySandbox, env: dict[str, str]) -> None:
    assert cli(env, "--apply").returncode == 0
    import httpx

    [rate] = [rule for rule in rules(sentry_sandbox) if rule["name"] == "Rate limit"]
    changed = {**rate, "frequency": 60}
    httpx.put(
        f"{sentry_sandbox.url}/api/0/projects/{sentry_sandbox.org}/{sentry_sandbox.project}/rules/{rate['id']}/",
        json=changed,
        headers={"Authorization": f"Bearer {sentry_sandbox.token}"},
        timeout=10,
    ).raise_for_status()
    preview = cli(env)
    assert "~ Rate limit: update frequency" in preview.stdout
    assert cli(env, "--apply").returncode == 0
    [rate] = [rule for rule in rules(sentry_sandbox) if rule["name"] == "Rate limit"]
    assert rate["frequency"] == 30
    assert "No changes" in cli(env).stdout


def test_configuration_errors_exit_2_with_the_variable_named(env: dict[str, str]) -> None:
    missing = cli({**env, "SENTRY_ALERT_INSTALLATION_UUID": ""})
    assert missing.returncode == 2
    assert "SENTRY_ALERT_INSTALLATION_UUID" in missing.stderr
    no_token = cli({**env, "SENTRY_AUTH_TOKEN": ""})
    assert no_token.returncode == 2
    assert "SENTRY_AUTH_TOKEN" in no_token.stderr
    bad = cli(env, "--installation-uuid", "not-a-uuid")
    assert bad.returncode == 2


def test_a_token_without_the_alerts_scope_exits_1_naming_it(sentry_sandbox: SentrySandbox, env: dict[str, str]) -> None:
    sentry_sandbox.client.configure(tokens={sentry_sandbox.token: ["event:read"]})
    refused = cli(env)
    assert refused.returncode == 1
    assert "alerts:read" in refused.stderr
    assert "Traceback" not in refused.stderr
