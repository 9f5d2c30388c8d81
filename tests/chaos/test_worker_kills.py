"""Whole-worker kills, round after round: every scan whose worker died is finished by another, once.

The probe behind issue "whole-worker death strands scans for 2 hours", kept with its figure: rounds survived
and the time from a new worker being up to the user's result (the visibility timeout is shortened to seconds
for the test; production adds the interactive pool's 6 minutes, see docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from tests.conftest import WorkerProcess
from tests.e2e.test_scan_recovery import USER, kill_whole_worker_mid_scan
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.plugins.sandbox_telegram import TelegramSandbox

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

ROUNDS = 10


def test_ten_whole_worker_kills_ten_scans_finished_once(
    worker_process: Callable[..., WorkerProcess],
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    sqlite_database_url: str,
    redis_client: redis.Redis,
) -> None:
    took = []
    for round_number in range(ROUNDS):
        seconds, successor = kill_whole_worker_mid_scan(
            worker_process, dmarket_sandbox, telegram_sandbox, sqlite_database_url, redis_client, USER + round_number
        )
        successor.stop()  # the next round's worker is the only one consuming
        took.append(seconds)
    print(f"\nwhole-worker kills: {len(took)}/{ROUNDS} finished once; seconds to result: max {max(took):.1f}")
    assert len(took) == ROUNDS
