"""A dead worker's message comes back soon, but never while a live worker may still be running it."""

from __future__ import annotations

import importlib

import pytest

from common.contract import INTERACTIVE_QUEUES, MAINTENANCE_QUEUES, ROUTES
from common.scan_slot import SCAN_SLOT_TTL_S
from tests.support.tasks import app
from worker.app import BaseTask, pool_transport_options
from worker.arbitrage.janitor import STALE_AFTER
from worker.arbitrage.workflow import MAX_SCAN_ATTEMPTS
from worker.tasks.arbitrage import TIME_LIMIT_S

app_module = importlib.import_module("worker.app")  # the module; `worker.app` is also the app
SWEEP_S = app_module.RESTORE_INTERVAL_S * app_module.RESTORE_THROTTLE


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_task_ends_within_its_pools_visibility_timeout(name: str) -> None:
    """A message redelivered while its first worker still runs it would run twice at once."""
    task = app.tasks[name]
    queue = ROUTES[name]
    assert task.time_limit is not None, f"{name} has no hard time limit: its redelivery time is unbounded"
    assert task.soft_time_limit is not None
    assert task.soft_time_limit < task.time_limit
    visibility = pool_transport_options([queue])["visibility_timeout"]
    assert task.time_limit + app_module.VISIBILITY_MARGIN_S <= visibility, (name, task.time_limit, visibility)


def test_each_pool_family_keeps_its_own_unacked_set_and_the_sweep_runs_every_half_minute() -> None:
    interactive = pool_transport_options(",".join(INTERACTIVE_QUEUES))
    maintenance = pool_transport_options(list(MAINTENANCE_QUEUES))
    mixed = pool_transport_options(None)
    assert interactive["visibility_timeout"] == app_module.INTERACTIVE_VISIBILITY_TIMEOUT_S
    assert maintenance["visibility_timeout"] == app_module.MAINTENANCE_VISIBILITY_TIMEOUT_S
    assert mixed["visibility_timeout"] == max(interactive["visibility_timeout"], maintenance["visibility_timeout"])
    assert interactive["unacked_key"] != maintenance["unacked_key"]
    assert "unacked_key" not in mixed  # kombu's default set: a mixed worker restores every family's messages
    assert SWEEP_S <= 30
    for options in (interactive, maintenance, mixed):
        assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] == SWEEP_S


def test_the_users_slot_outlives_every_attempt_a_scan_may_still_make() -> None:
    """Each attempt is handed out again at worst visibility + sweep after the last; database retries add
    their waits; the janitor ends a row STALE_AFTER its last start. The user is locked out no longer than that
    plus a little: the slot must not expire while the scan may still finish."""
    redelivery_s = app_module.INTERACTIVE_VISIBILITY_TIMEOUT_S + SWEEP_S
    _, database_waits_s = BaseTask.outage_policy.outage_span_s()
    longest_s = MAX_SCAN_ATTEMPTS * max(redelivery_s, TIME_LIMIT_S) + database_waits_s
    assert longest_s <= SCAN_SLOT_TTL_S
    assert STALE_AFTER.total_seconds() <= SCAN_SLOT_TTL_S  # the janitor frees a lost scan's user before the TTL
    assert SCAN_SLOT_TTL_S <= 45 * 60  # and a user whose scan was lost for good is not locked out for an hour
