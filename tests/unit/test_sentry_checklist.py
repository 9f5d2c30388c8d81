"""The production checklist /sentry_info runs, judged from one process's status alone."""

from __future__ import annotations

from typing import Any

import pytest

from common.observability.checklist import CheckState, parse_version, production_checklist

OK, FAIL, NA = CheckState.OK, CheckState.FAIL, CheckState.NOT_APPLICABLE


def status(**overrides: Any) -> dict[str, Any]:
    base = {"enabled": True, "environment": "production", "traces_sample_rate": 0.1, "sdk_version": "2.19.0"}
    return {**base, **overrides}


def verdicts(**overrides: Any) -> dict[str, CheckState]:
    return {item.key: item.state for item in production_checklist(status(**overrides))}


def test_a_production_set_up_by_the_guide_passes_every_item() -> None:
    assert verdicts() == {"dsn": OK, "environment": OK, "sample_rate": OK, "sdk_version": OK}


def test_no_dsn_fails_the_dsn_item() -> None:
    assert verdicts(enabled=False)["dsn"] is FAIL


@pytest.mark.parametrize(("rate", "state"), [(0.0, OK), (0.1, OK), (0.11, FAIL), (1.0, FAIL)])
def test_in_production_the_sample_rate_must_be_at_most_a_tenth(rate: float, state: CheckState) -> None:
    assert verdicts(traces_sample_rate=rate)["sample_rate"] is state


def test_outside_production_the_production_items_do_not_apply_instead_of_failing() -> None:
    items = {item.key: item for item in production_checklist(status(environment="staging", traces_sample_rate=1.0))}
    assert (items["environment"].state, items["environment"].observed) == (NA, "staging")
    assert (items["sample_rate"].state, items["sample_rate"].observed) == (NA, "1")


def test_missing_values_fail_rather_than_pass() -> None:
    assert verdicts(environment=None, traces_sample_rate=None, sdk_version=None) == {
        "dsn": OK,
        "environment": FAIL,
        "sample_rate": FAIL,
        "sdk_version": FAIL,
    }


@pytest.mark.parametrize(
    ("version", "state"),
    [("1.39.2", FAIL), ("1.40.0", OK), ("1.45.1", OK), ("2.0.0rc1", OK), ("0.99", FAIL), ("garbage", FAIL)],
)
def test_sdk_must_be_at_least_1_40(version: str, state: CheckState) -> None:
    assert verdicts(sdk_version=version)["sdk_version"] is state


def test_versions_compare_as_numbers_not_text() -> None:
    assert parse_version("1.100.0") > parse_version("1.40.0") > parse_version("1.9")
    assert parse_version("2.0.0rc1") == (2, 0, 0)
