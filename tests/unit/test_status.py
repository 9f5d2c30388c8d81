"""/status's pure parts: kombu's queue keys, a queue's depth and oldest age, beat's next runs, durations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import beat_schedule
from bot.status_view import BrokerDown, WorkersSilent, duration, render_status
from common.status import SENT_AT_HEADER, QueueDepth, depth_of, next_runs, queue_keys, stamp_sent_at


def _message(sent_at: float | None) -> str:
    headers = {} if sent_at is None else {SENT_AT_HEADER: sent_at}
    return json.dumps({"body": "", "headers": headers, "properties": {}})


def test_every_priority_step_of_a_queue_is_a_list_of_its_own() -> None:
    assert queue_keys("scans", "p:") == ["p:scans", "p:scans\x06\x163", "p:scans\x06\x166", "p:scans\x06\x169"]


def test_depth_sums_the_priority_lists_and_the_oldest_is_the_earliest_stamp() -> None:
    depth = depth_of("scans", [2, 0, 0, 1], [_message(100.0), None, None, _message(40.0)], now=160.0)
    assert depth == QueueDepth("scans", 3, 120.0)
    assert depth_of("scans", [1, 0, 0, 0], [_message(None), None, None, None], now=1.0).oldest_age_s is None
    assert depth_of("scans", [0, 0, 0, 0], [None] * 4, now=1.0) == QueueDepth("scans", 0, None)
    assert depth_of("scans", [1, 0, 0, 0], ["not json", None, None, None], now=1.0).oldest_age_s is None


def test_the_publish_stamp_keeps_an_existing_value() -> None:
    headers: dict[str, object] = {SENT_AT_HEADER: 5.0}
    stamp_sent_at(headers=headers)
    assert headers[SENT_AT_HEADER] == 5.0
    fresh: dict[str, object] = {}
    stamp_sent_at(headers=fresh)
    assert isinstance(fresh[SENT_AT_HEADER], float)


def test_next_runs_follow_the_crontabs_in_utc() -> None:
    tuesday = datetime(2026, 12, 1, 23, 40, 30, tzinfo=UTC)
    assert next_runs(beat_schedule.SCHEDULE, tuesday) == [
        ("upkeep-every-minute", datetime(2026, 12, 1, 23, 41, tzinfo=UTC)),
        ("watch-sweep-every-minute", datetime(2026, 12, 1, 23, 41, tzinfo=UTC)),
        ("sentry-alerts-digest-every-30-min", datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
        ("sentry-cleanup-weekly-test-issues", datetime(2026, 12, 7, 3, 0, tzinfo=UTC)),
        ("sentry-cleanup-monthly-old-issues", datetime(2027, 1, 1, 4, 0, tzinfo=UTC)),
    ]


def test_durations_use_the_coarsest_unit() -> None:
    assert [duration(s, "en") for s in (0, 59, 60, 3_599, 3_600, 86_400 * 3)] == [
        "0s",
        "59s",
        "1 min",
        "59 min",
        "1 h",
        "3 d",
    ]
    assert duration(120, "ru") == "2 мин"


def test_broker_down_is_one_line_and_a_silent_worker_keeps_the_rest() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    down = render_status(BrokerDown("ConnectionError"), None, [], True, now, "ru").splitlines()
    assert [line for line in down if line.startswith("❌")] == [down[1]]
    assert "Брокер (Redis) недоступен (ConnectionError)" in down[1]
    silent = render_status([QueueDepth("scans", 0, None)], WorkersSilent("no_workers", 1.5), [], False, now, "en")
    assert "No worker answered within 1.5 s" in silent
    assert "📥 Queues: scans 0" in silent
    assert silent.endswith("🛰 Sentry: off (SENTRY_DSN is not set)")
