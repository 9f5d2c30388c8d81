"""Redis hanging (stopped with SIGSTOP: connections open, nothing answers) while many users ask the bot.

Found by the probe: 20 users' /arbitrage waited up to 20.7 s, one after another, behind a hung Redis. Every
Redis call the bot makes now has its own deadline and updates run concurrently, so each user gets the
"queue unavailable" answer (nothing is queued, nothing is lost), and the bot answers again once Redis does.
Real parts: a private redis-server, the bot's PTB application against the Telegram sandbox.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from sandbox.server import free_port
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.bot import running_bot
from tests.support.redis_server import RedisServer, private_redis

pytestmark = pytest.mark.chaos

USERS = [8_100_000 + n for n in range(20)]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with private_redis(tmp_path) as server:
        yield server


def test_twenty_users_are_each_told_the_queue_is_unavailable_while_redis_hangs(
    own_redis: RedisServer, telegram_sandbox: TelegramSandbox, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(
        telegram_bot_token=telegram_sandbox.token,
        telegram_api_base_url=telegram_sandbox.url,
        redis_url=own_redis.url(),
        bot_webhook_port=free_port(),
    )
    assert own_redis.process is not None
    with running_bot(settings):
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        try:
            for user in USERS:
                telegram_sandbox.client.send_message(user, user, "/arbitrage")
            # Each answer is bounded by the bot's own deadlines (about a second per Redis call), not by Redis.
            replies = [telegram_sandbox.client.wait_for_text(user, "Очередь задач недоступна", 30) for user in USERS]
        finally:
            os.kill(own_redis.process.pid, signal.SIGCONT)
        assert len(replies) == len(USERS)
        # Redis answers again, and the bot has not stalled: the next command is answered as usual.
        telegram_sandbox.client.send_message(USERS[0], USERS[0], "/start")
        telegram_sandbox.client.wait_for_text(USERS[0], "/help", 30)
