"""docker-compose.yml: valid against the Compose Specification, and wired the way operators rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The Compose Specification's JSON schema (github.com/compose-spec/compose-spec, Apache-2.0), vendored.
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    # The spec declares draft-07 under an https $schema URL jsonschema does not know; name the draft ourselves.
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose)


def test_every_service_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "redis", "postgres", "migrate", "worker", "worker-maintenance", "beat", "bot", "flower"
    }  # fmt: skip


def test_interactive_work_and_maintenance_run_in_pools_of_their_own(compose: dict[str, Any]) -> None:
    """A hung Sentry Web API held both worker processes and an /arbitrage sat at "queued" behind it; and each
    pool family has its own visibility timeout, which only holds when no worker mixes the families."""
    from common.contract import INTERACTIVE_QUEUES, MAINTENANCE_QUEUES, QUEUES

    def queues(name: str) -> set[str]:
        [flag] = [part for part in compose["services"][name]["command"] if part.startswith("--queues=")]
        return set(flag.removeprefix("--queues=").split(","))

    assert queues("worker") == set(INTERACTIVE_QUEUES)
    assert queues("worker-maintenance") == set(MAINTENANCE_QUEUES)
    assert queues("worker") | queues("worker-maintenance") == set(QUEUES)


def test_stateful_services_have_healthchecks_and_dependents_wait_for_them(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("redis", "postgres", "worker", "worker-maintenance", "bot"):
        assert "healthcheck" in services[name], name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "worker-maintenance", "beat", "bot"):
        depends = services[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["flower"]["depends_on"]["worker"]["condition"] == "service_healthy"


def test_one_image_secrets_from_env_file_and_redis_not_published(compose: dict[str, Any]) -> None:
    services = compose["services"]
    app_services = ("migrate", "worker", "worker-maintenance", "beat", "bot", "flower")
    assert {services[name]["image"] for name in app_services} == {"dmarket-bot:latest"}
    assert all(services[name]["env_file"] == ".env" for name in app_services)
    assert "ports" not in services["redis"]
    assert "ports" not in services["postgres"]
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in ("TELEGRAM_BOT_TOKEN", "DMARKET_SECRET_KEY", "SENTRY_AUTH_TOKEN", "SENTRY_DSN"):
        assert secret not in text  # only through env_file


def test_exactly_one_beat_and_flower_behind_basic_auth(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert services["worker"]["command"][:4] == ["celery", "-A", "worker", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "worker", "beat"]


LONG_RUNNING = ("redis", "postgres", "worker", "worker-maintenance", "beat", "bot", "flower")


def test_every_long_running_service_has_a_healthcheck_and_restarts_by_itself(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    # The one-shot job runs once per `up`; its "health" is exiting 0, which its dependents wait for.
    assert services["migrate"]["restart"] == "no"
    worker = services["worker"]
    # The replica pings its own node: a healthy sibling must not make a stuck replica look healthy.
    assert "--hostname=celery@%h" in worker["command"]
    assert "-d celery@$$HOSTNAME" in worker["healthcheck"]["test"][1]
    maintenance = services["worker-maintenance"]
    assert "--hostname=maintenance@%h" in maintenance["command"]
    assert "-d maintenance@$$HOSTNAME" in maintenance["healthcheck"]["test"][1]
    assert "/healthz" in services["bot"]["healthcheck"]["test"][-1]
    assert "/healthcheck" in services["flower"]["healthcheck"]["test"][-1]
    assert services["beat"]["healthcheck"]["test"][1:] == ["python", "-m", "worker", "healthcheck", "beat"]
    assert services["flower"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_flower_runs_with_the_flags_of_make_run(compose: dict[str, Any]) -> None:
    from scripts.run_local import flower_argv

    flower = compose["services"]["flower"]
    expected = flower_argv(["celery", "-A", "worker"], Path("/app/var/flower"), 5555, address="0.0.0.0")
    assert flower["command"] == expected
    assert "flower-data:/app/var/flower" in flower["volumes"]
    # Loopback only: basic auth over plain HTTP, and /metrics and /healthcheck need no password.
    assert flower["ports"] == ["127.0.0.1:5555:5555"]


def test_the_image_runs_as_a_non_root_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert "useradd --system --uid 10001" in "\n".join(lines)
