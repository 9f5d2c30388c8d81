"""``telegram_sandbox`` fixture: one Telegram Bot API sandbox per session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
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
# A forum supergroup with two open topics (message_thread_id -> name), there from the start as well.
FORUM_CHAT_ID = -1001000000002
FORUM_TOPICS = {2: "Alerts", 3: "Scans"}


@dataclass(frozen=True)
class TelegramSandbox:
    """A running sandbox: where it is, the token it accepts, its pre-registered chats and its control client."""

    url: str
    token: str
    bot_username: str
    admin_chat_id: int
    client: TelegramSandboxClient
    forum_chat_id: int = FORUM_CHAT_ID
    forum_topics: tuple[tuple[int, str], ...] = tuple(FORUM_TOPICS.items())

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as ``base_url`` (it appends the token and method)."""
        return f"{self.url}/bot"

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    def call(self, method: str, *, token: str | None = None, timeout_s: float = 15.0, **params: Any) -> httpx.Response:
        """A raw Bot API call (JSON body), as a bot without a library would make it."""
        return httpx.post(f"{self.base_url}{token or self.token}/{method}", json=params, timeout=timeout_s)

    def call_control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw control-API request, for checking refusals the client would raise as exceptions."""
        return httpx.request(method, f"{self.url}{path}", timeout=15.0, **kwargs)


@pytest.fixture(scope="session")
def _telegram_sandbox_server() -> Iterator[TelegramSandbox]:
    chats = (
        ChatSpec(ADMIN_CHAT_ID, "supergroup", "Sandbox admins"),
        ChatSpec(FORUM_CHAT_ID, "supergroup", "Sandbox forum", is_forum=True, topics=tuple(FORUM_TOPICS.items())),
    )
    with (
        running(build_app(TelegramSandboxSettings(chats=chats))) as server,
        TelegramSandboxClient(server.url) as client,
    ):
        yield TelegramSandbox(server.url, DEFAULT_TOKEN, DEFAULT_BOT_USERNAME, ADMIN_CHAT_ID, client)


@pytest.fixture
def telegram_sandbox(_telegram_sandbox_server: TelegramSandbox) -> TelegramSandbox:
    """The sandbox in its start-up state: only the admin chat and the forum known, no limits, faults or delays."""
    _telegram_sandbox_server.client.reset()
    return _telegram_sandbox_server
