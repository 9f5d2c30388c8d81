"""Workers share Telegram's flood limits through Redis: together they never earn a 429 from them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
import redis

from common.settings import Settings
from tests.plugins.sandbox_telegram import TelegramSandbox
from worker.ratelimit import SharedRateLimiter
from worker.telegram.flood import FloodControl
from worker.telegram.sender import TelegramSender


def sender(telegram: TelegramSandbox, redis_url: str, token_for_lanes: str) -> tuple[TelegramSender, redis.Redis]:
    """A sender with a Redis connection of its own, as a separate worker process has."""
    connection = redis.Redis.from_url(redis_url)
    flood = FloodControl(SharedRateLimiter(connection), token_for_lanes)
    return TelegramSender(telegram.token, telegram.url, flood=flood), connection


def test_two_workers_sending_to_one_chat_stay_within_its_limit(
    telegram_sandbox: TelegramSandbox, redis_url: str, settings_factory: Callable[..., Settings]
) -> None:
    chat = 7_000_001
    telegram_sandbox.client.register_chat(chat, chat_type="private", first_name="Trader")
    telegram_sandbox.client.set_flood_limits(per_chat_per_s=1, global_per_s=30)
    lanes_of = f"test-bot-{uuid.uuid4().hex}"  # fresh lanes: no earlier test's reservations
    workers = [sender(telegram_sandbox, redis_url, lanes_of) for _ in range(2)]
    failures: list[BaseException] = []

    def send_three(worker: TelegramSender, name: str) -> None:
        try:
            for n in range(3):
                worker.send_message(chat, f"{name} result {n}", parse_mode=None)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=send_three, args=(w, f"w{i}")) for i, (w, _) in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for worker, connection in workers:
        worker.close()
        connection.close()

    assert failures == []
    record = telegram_sandbox.client.chat_flood_record(chat)
    assert record["sent"] == 6
    assert record["refused"] == 0  # Telegram never had to say 429
    assert record["peak_per_s"] <= 1


def test_a_courtesy_call_does_not_wait_for_a_busy_chat(telegram_sandbox: TelegramSandbox, redis_url: str) -> None:
    """A progress edit (one attempt) whose chat has no free slot right now is dropped, not delayed."""
    from common.retry import ONCE
    from worker.telegram.sender import TelegramFloodWait

    chat = 7_000_002
    telegram_sandbox.client.register_chat(chat, chat_type="private", first_name="Trader")
    worker, connection = sender(telegram_sandbox, redis_url, f"test-bot-{uuid.uuid4().hex}")
    try:
        message_id = worker.send_message(chat, "queued", parse_mode=None)  # takes the chat's slot for a second
        with pytest.raises(TelegramFloodWait) as refused:  # the chat's slot is taken for the next second
            worker.edit_message_text(chat, message_id, "progress", parse_mode=None, policy=ONCE)
        assert 0 < refused.value.retry_after_s <= 1.5
    finally:
        worker.close()
        connection.close()
    assert [m["text"] for m in telegram_sandbox.client.bot_messages(chat)] == ["queued"]
