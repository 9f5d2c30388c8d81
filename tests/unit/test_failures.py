"""The failure table: one row per way a task fails for good, the docs' copy of it, and its invariants."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.observability.breadcrumbs import COMPONENTS
from common.observability.failures import CLEANUP_FAILURES, FAILURES, LEVELS, failure, failure_table
from worker.arbitrage.messages import TEXTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
SPAN_STATUSES = {
    "internal_error",
    "aborted",
    "unavailable",
    "resource_exhausted",
    "deadline_exceeded",
    "permission_denied",
    "failed_precondition",
}


def test_the_docs_show_the_table_the_code_has() -> None:
    text = DOC.read_text()
    shown = text.split("<!-- failure-table:start -->\n", 1)[1].split("\n<!-- failure-table:end -->", 1)[0]
    assert shown == failure_table()


@pytest.mark.parametrize("row", [*FAILURES.values(), *CLEANUP_FAILURES.values()], ids=lambda row: row.kind)
def test_every_row_is_a_real_failure_with_a_known_component_level_and_status(row: object) -> None:
    from common.observability.failures import Failure

    assert isinstance(row, Failure)
    assert row.component in COMPONENTS
    assert row.level in LEVELS
    assert row.level in ("warning", "error", "fatal")  # a failure is never info
    assert row.transaction_status in SPAN_STATUSES  # never "ok"
    assert row.raised_by
    assert failure(row.kind) is row


def test_every_scan_failure_has_a_message_for_the_user() -> None:
    assert set(FAILURES) <= set(TEXTS)


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown failure kind 'lost', expected one of \['auth_failed'"):
        failure("lost")
