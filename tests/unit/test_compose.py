"""docker-compose.yml: valid against the Compose Specification, and wired the way operators rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    # The spec declares draft-07 under an https $schema URL jsonschema does not know; name the draft ourselves.
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose)


def test_every_service_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"redis", "postgres", "migrate", "worker", "beat", "bot", "flower"}


def test_stateful_services_have_healthchecks_and_dependents_wait_for_them(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("redis", "postgres", "worker", "bot"):
        assert "healthcheck" in services[name], name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "beat", "bot"):
        depends = services[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["flower"]["depends_on"]["worker"]["condition"] == "service_healthy"


def test_one_image_secrets_from_env_file_and_redis_not_published(compose: dict[str, Any]) -> None:
    services = compose["services"]
    app_services = ("migrate", "worker", "beat", "bot", "flower")
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
