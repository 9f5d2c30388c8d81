"""Reading what reached the Sentry sandbox: the guide's breadcrumb trail, exceptions, traces, transactions."""

from __future__ import annotations

from typing import Any

from tests.plugins.sandbox_sentry import SentrySandbox

ADMIN = 1001  # ADMIN_USER_IDS of the shared end-to-end environment (tests/e2e/conftest.py)
DSN_KEY = "5e0f1c2a9b8d4e7f8a6b5c4d3e2f1a0b"
GUIDE_CATEGORIES = {"telegram", "trading", "http", "error"}

Record = dict[str, Any]


def crumbs(event: Record) -> list[tuple[str, str]]:
    """The event's breadcrumbs in the guide's categories, in order (log records' breadcrumbs fall between)."""
    values = event["payload"].get("breadcrumbs", {}).get("values", [])
    return [(c["category"], c["message"]) for c in values if c.get("category") in GUIDE_CATEGORIES]


def exception_of(event: Record) -> tuple[str, str]:
    last = event["payload"]["exception"]["values"][-1]
    return last["type"], last["value"]


def trace_of(record: Record) -> str:
    return str(record["payload"]["contexts"]["trace"]["trace_id"])


def transaction_named(sandbox: SentrySandbox, name: str) -> list[Record]:
    return sandbox.client.wait_for_events(lambda e: e["payload"]["transaction"] == name, type="transaction")


def transaction_status(record: Record) -> str | None:
    status = record["payload"]["contexts"]["trace"].get("status")
    return str(status) if status is not None else None
