"""The bot's breadcrumbs travel with its tasks: collected per command, bounded, scrubbed, replayed in order.

Through the production Sentry set-up (in-memory transport); the end-to-end proof across real processes is
tests/e2e/test_observability.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sentry_sdk

from common.observability.breadcrumbs import (
    MAX_TRAIL_BYTES,
    MAX_TRAIL_CRUMBS,
    TRAIL_HEADER,
    add_http_breadcrumb,
    add_telegram_breadcrumb,
    add_trading_breadcrumb,
    command_trail,
    replay_trail,
    trail_header,
)
from tests.support.capture import CapturingTransport

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


def messages(event: dict[str, Any]) -> list[str]:
    return [c["message"] for c in event["breadcrumbs"]["values"] if c.get("category") in ("telegram", "trading")]


def test_a_commands_breadcrumbs_are_replayed_in_order_before_the_tasks_own(
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    transport = sentry_capture()
    with command_trail():
        add_telegram_breadcrumb("/arbitrage", user_id=7, chat_id=8)
        add_trading_breadcrumb("scan_queued", show=("game",), game="csgo")
        header = trail_header()
    assert trail_header() == {}  # outside a command there is nothing to send

    with sentry_sdk.isolation_scope() as scope:  # the worker's task scope
        scope.clear_breadcrumbs()
        assert replay_trail(header[TRAIL_HEADER]) == 2
        add_trading_breadcrumb("arbitrage_scan_started", show=("game", "level"), game="csgo", level="pro")
        sentry_sdk.capture_message("carrier")
    sentry_sdk.flush()

    [event] = transport.items("event")
    assert messages(event) == [
        "Bot command: /arbitrage",
        "Trading action: scan_queued (game: csgo)",
        "Trading action: arbitrage_scan_started (game: csgo, level: pro)",
    ]
    [command] = [c for c in event["breadcrumbs"]["values"] if c.get("category") == "telegram"]
    assert command["data"] == {"user_id": 7, "chat_id": 8}


def test_the_trail_is_bounded_in_count_and_size_and_always_keeps_the_command(
    sentry_capture: Callable[..., CapturingTransport],
) -> None:
    sentry_capture()
    with command_trail():
        add_telegram_breadcrumb("/arbitrage", user_id=7, chat_id=8)
        for n in range(MAX_TRAIL_CRUMBS + 5):
            add_trading_breadcrumb(f"step_{n}", note="x" * 1000)
        header = trail_header()[TRAIL_HEADER]
    crumbs = json.loads(header)
    assert len(header.encode()) <= MAX_TRAIL_BYTES
    assert crumbs[0]["message"] == "Bot command: /arbitrage"
    assert 1 < len(crumbs) <= MAX_TRAIL_CRUMBS
    # What survives is the newest, after the command: the steps closest to the task.
    assert crumbs[-1]["message"] == f"Trading action: step_{MAX_TRAIL_CRUMBS + 4}"


def test_the_trail_is_scrubbed_before_it_leaves_the_bot(sentry_capture: Callable[..., CapturingTransport]) -> None:
    sentry_capture(telegram_bot_token=BOT_TOKEN)
    with command_trail():
        add_telegram_breadcrumb("/arbitrage", user_id=7, chat_id=8)
        add_http_breadcrumb("POST", f"/bot{BOT_TOKEN}/sendMessage", 200, 12)
        header = trail_header()[TRAIL_HEADER]
    assert BOT_TOKEN not in header
    assert BOT_TOKEN.split(":", 1)[1] not in header
    assert "Bot command: /arbitrage" in header


def test_a_malformed_trail_is_ignored_not_fatal(sentry_capture: Callable[..., CapturingTransport]) -> None:
    sentry_capture()
    for header in (None, 42, "not json", '{"a": 1}', '["just a string"]', "x" * (MAX_TRAIL_BYTES + 1)):
        assert replay_trail(header) == 0
    assert replay_trail(json.dumps([{"message": "kept"}, {"no": "message"}, "junk"])) == 1
