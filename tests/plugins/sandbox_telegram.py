"""``telegram_sandbox`` fixture: one Telegram Bot API sandbox per session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sandbox.server import running
from sandbox.telegram import (
    DEFAULT_BOT_USERNAME,
    DEFAULT_TOKEN,
    ChatSpec,
    TelegramSandboxClient,
    TelegramSandboxSettings,
    build_app,
)

# A supergroup that exists from the start, like an operators' admin chat the bot was added to.
ADMIN_CHAT_ID = -1001000000001


@dataclass(frozen=True)
class TelegramSandbox:
    """A running sandbox: where it is, the token it accepts, and its control-API client."""

    url: str
    token: str
    bot_username: str
    admin_chat_id: int
    client: TelegramSandboxClient

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as ``base_url`` (it appends the token and method)."""
        return f"{self.url}/bot"


@pytest.fixture(scope="session")
def _telegram_sandbox_server() -> Iterator[TelegramSandbox]:
    settings = TelegramSandboxSettings(chats=(ChatSpec(ADMIN_CHAT_ID, "supergroup", "Sandbox admins"),))
    with running(build_app(settings)) as server, TelegramSandboxClient(server.url) as client:
        yield TelegramSandbox(server.url, DEFAULT_TOKEN, DEFAULT_BOT_USERNAME, ADMIN_CHAT_ID, client)


@pytest.fixture
def telegram_sandbox(_telegram_sandbox_server: TelegramSandbox) -> TelegramSandbox:
    """The Telegram sandbox in its start-up state: only the admin chat known, no limits, no faults."""
    _telegram_sandbox_server.client.reset()
    return _telegram_sandbox_server
