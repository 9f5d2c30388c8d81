"""The retry policy's outage schedule: retries that surely span a realistic outage, never bunched at the start."""

from __future__ import annotations

from common.retry import RetryPolicy
from worker.app import BaseTask


def test_each_outage_wait_is_at_least_half_its_cap_and_at_most_the_cap() -> None:
    policy = RetryPolicy(max_attempts=7, deadline_s=300.0, base_s=5.0, max_backoff_s=40.0)
    for retry, cap in enumerate([5.0, 10.0, 20.0, 40.0, 40.0, 40.0], start=1):
        waits = [policy.outage_wait_s(retry) for _ in range(200)]
        assert min(waits) >= cap / 2
        assert max(waits) <= cap


def test_the_tasks_outage_retries_ride_out_a_minute_and_give_up_within_three() -> None:
    # A 16 s PostgreSQL restart failed a scan when its three fully jittered retries could all come at once.
    least, most = BaseTask.outage_policy.outage_span_s()
    assert (least, most) == (77.5, 155.0)
    assert least >= 60.0
    assert most <= 180.0
