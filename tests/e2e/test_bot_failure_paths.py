"""Every way out of a command releases what it took: the user's scan slot and the "queued" reply.

The real PTB application against the Telegram sandbox and the real Redis; the failures are real too: Telegram
refusing the reply (a sandbox fault), Redis refusing the push (its deadline), a handler cancelled mid-block.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
import redis.asyncio

from bot import producer
from bot.slots import scan_slot
from common.contract import QUEUES
from common.scan_slot import slot_key
from common.settings import Settings
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.bot import running_bot
from tests.support.environment import TEST_KEY_PREFIX

USER = CHAT = 6_000_000 + os.getpid() % 1_000_000
ADMIN = 1001


@pytest.fixture
def bot_settings(telegram_sandbox: TelegramSandbox, settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        telegram_bot_token=telegram_sandbox.token,
        telegram_api_base_url=telegram_sandbox.url,
        admin_user_ids=f"{ADMIN},{USER}",
        sentry_auth_token="token-for-cleanup",
        sentry_organization="org",
        sentry_project="1",
    )


@pytest.fixture
def queues(redis_client: redis.Redis) -> Callable[[str], int]:
    """Messages waiting on a queue of this test run (the key prefix of its Celery traffic)."""
    return lambda name: int(redis_client.llen(f"{TEST_KEY_PREFIX}{name}"))


@pytest.fixture(autouse=True)
def _nothing_left_queued(celery_app: object) -> Iterator[None]:
    """What these tests queue is never run: leave nothing for a later test's worker to pick up."""
    yield
    with celery_app.connection_for_write() as connection:  # type: ignore[attr-defined]
        for queue in QUEUES:
            connection.default_channel.queue_purge(queue)


@pytest.fixture
def refusing_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every push arrives after its deadline: Redis itself refuses it (bot.producer's script), nothing is queued."""
    monkeypatch.setattr(producer, "PUBLISH_BUDGET_S", -60.0)


def test_a_failed_queued_reply_gives_the_scan_slot_back(
    telegram_sandbox: TelegramSandbox, bot_settings: Settings, redis_client: redis.Redis, queues: Callable[[str], int]
) -> None:
    redis_client.delete(slot_key(USER))
    before = queues("scans")
    telegram_sandbox.client.inject_fault("sendMessage", status=500, count=1)
    with running_bot(bot_settings):
        telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage dota2 pro")
        apology = telegram_sandbox.client.wait_for_text(CHAT, "Что-то пошло не так", timeout_s=10)
        assert "Код ошибки" in apology["text"]
        assert not redis_client.exists(slot_key(USER))  # not locked out for 30 minutes
        telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage dota2 pro")
        telegram_sandbox.client.wait_for_text(CHAT, "Скан dota2/pro поставлен в очередь", timeout_s=10)
    assert queues("scans") == before + 1  # only the second scan was queued
    redis_client.delete(slot_key(USER))


def test_a_refused_enqueue_after_the_slot_was_taken_gives_it_back_and_says_so(
    telegram_sandbox: TelegramSandbox,
    bot_settings: Settings,
    redis_client: redis.Redis,
    queues: Callable[[str], int],
    refusing_redis: None,
) -> None:
    redis_client.delete(slot_key(USER))
    before = queues("scans")
    with running_bot(bot_settings):
        telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage")
        reply = telegram_sandbox.client.wait_for_text(CHAT, "Очередь задач недоступна", timeout_s=10)
    assert "поставлен в очередь" in reply["history"][0]["text"]  # the "queued" reply itself was corrected
    assert not redis_client.exists(slot_key(USER))
    assert queues("scans") == before


@pytest.mark.parametrize(
    ("command", "queue"),
    [("/test_sentry error", "sentry"), ("/cleanup", "maintenance"), ("/cleanup run", "maintenance")],
)
def test_a_refused_enqueue_corrects_the_queued_reply_of_admin_commands(
    telegram_sandbox: TelegramSandbox,
    bot_settings: Settings,
    queues: Callable[[str], int],
    refusing_redis: None,
    command: str,
    queue: str,
) -> None:
    before = queues(queue)
    with running_bot(bot_settings):
        telegram_sandbox.client.send_message(ADMIN, ADMIN, command)
        reply = telegram_sandbox.client.wait_for_text(ADMIN, "Очередь задач недоступна", timeout_s=10)
    assert reply["history"], "the queued reply is edited, not followed by a second message"
    assert len(telegram_sandbox.client.bot_messages(ADMIN)) == 1
    assert queues(queue) == before


def test_a_handler_cancelled_inside_the_slot_block_gives_the_slot_back(redis_url: str) -> None:
    user = USER + 1

    async def main() -> tuple[bool, bool]:
        client = redis.asyncio.Redis.from_url(redis_url)
        entered = asyncio.Event()

        async def handler(hand_over: bool) -> None:
            async with scan_slot(client, user, str(uuid.uuid4())) as slot:
                if hand_over:
                    slot.hand_over()
                    return
                entered.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(handler(hand_over=False))
        await entered.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        released = not await client.exists(slot_key(user))
        await handler(hand_over=True)
        kept = bool(await client.exists(slot_key(user)))  # handed over: the scan's worker releases it
        await client.delete(slot_key(user))
        await client.aclose()
        return released, kept

    assert asyncio.run(main()) == (True, True)
