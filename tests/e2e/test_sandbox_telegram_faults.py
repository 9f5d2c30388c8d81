"""Telegram sandbox faults: odd but legal answers, missing and failing methods, hangs and dropped connections.

Each failure kind is checked against what python-telegram-bot 22 raises for it, since that is what a handler
in the bot sees.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from telegram import Bot, BotCommand, Message
from telegram.error import EndPointNotFound, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from sandbox.telegram.client import SandboxControlError
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.waiting import wait_until

CHAT = USER = 1001
COMMANDS = [{"command": "start", "description": "Start"}]
# Short enough to keep the hang tests quick, far below the injected delays.
CLIENT_TIMEOUT_S = 0.5


def _bot(sandbox: TelegramSandbox) -> Bot:
    request = HTTPXRequest(read_timeout=CLIENT_TIMEOUT_S)
    return Bot(sandbox.token, base_url=sandbox.base_url, request=request)


def _commands(sandbox: TelegramSandbox) -> Any:
    return sandbox.call("getMyCommands").json()["result"]


def _outcomes(sandbox: TelegramSandbox, method: str) -> list[tuple[int | None, str]]:
    return [(r["status"], r["outcome"]) for r in sandbox.client.requests(method)]


@pytest.fixture
def bot_message(telegram_sandbox: TelegramSandbox) -> int:
    """A bot message in the private chat, to edit."""
    telegram_sandbox.client.send_message(CHAT, USER, "/start")
    return int(telegram_sandbox.call("sendMessage", chat_id=CHAT, text="Scan queued").json()["result"]["message_id"])


# -- odd but legal answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, None, {"unexpected": "shape"}])
def test_result_fault_replaces_the_answer_while_the_edit_takes_effect(
    telegram_sandbox: TelegramSandbox, bot_message: int, value: Any
) -> None:
    telegram_sandbox.client.inject_fault("editMessageText", result=value)
    odd = telegram_sandbox.call("editMessageText", chat_id=CHAT, message_id=bot_message, text="Found 3 items")
    assert (odd.status_code, odd.json()) == (200, {"ok": True, "result": value})
    [message] = telegram_sandbox.client.bot_messages(CHAT)
    assert message["text"] == "Found 3 items"
    assert [v["text"] for v in message["history"]] == ["Scan queued"]
    # count=1: the next edit answers the edited Message again.
    normal = telegram_sandbox.call("editMessageText", chat_id=CHAT, message_id=bot_message, text="Found 4 items")
    assert normal.json()["result"]["text"] == "Found 4 items"
    assert telegram_sandbox.client.config()["faults"] == []


def test_ptb_edit_returns_true_when_the_answer_is_true(telegram_sandbox: TelegramSandbox, bot_message: int) -> None:
    telegram_sandbox.client.inject_fault("editMessageText", result=True, count=2)

    async def scenario() -> list[Message | bool]:
        async with _bot(telegram_sandbox) as bot:
            return [await bot.edit_message_text(text, chat_id=CHAT, message_id=bot_message) for text in ("a", "b", "c")]

    first, second, third = asyncio.run(scenario())
    assert first is True
    assert second is True
    assert isinstance(third, Message)
    assert third.text == "c"


def test_a_failing_call_does_not_use_up_a_result_fault(telegram_sandbox: TelegramSandbox, bot_message: int) -> None:
    telegram_sandbox.client.inject_fault("editMessageText", result=True)
    unchanged = telegram_sandbox.call("editMessageText", chat_id=CHAT, message_id=bot_message, text="Scan queued")
    assert unchanged.status_code == 400
    assert "message is not modified" in unchanged.json()["description"]
    changed = telegram_sandbox.call("editMessageText", chat_id=CHAT, message_id=bot_message, text="Done")
    assert changed.json() == {"ok": True, "result": True}


def test_a_result_fault_stands_in_for_a_method_the_sandbox_lacks(telegram_sandbox: TelegramSandbox) -> None:
    assert telegram_sandbox.call("setChatMenuButton").status_code == 404
    telegram_sandbox.client.inject_fault("setChatMenuButton", result=True)
    assert telegram_sandbox.call("setChatMenuButton").json() == {"ok": True, "result": True}
    assert telegram_sandbox.call("setChatMenuButton").status_code == 404


# -- missing and failing methods, as python-telegram-bot sees them -----------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        pytest.param({"status": 404}, InvalidToken, "Not Found", id="404-missing-method"),
        pytest.param({"status": 429, "retry_after": 7}, RetryAfter, "Retry in", id="429"),
        pytest.param({"status": 500}, NetworkError, "Internal Server Error", id="500"),
        pytest.param({"status": 502}, NetworkError, "Bad Gateway", id="502"),
        pytest.param(
            {"status": 502, "raw_body": "<html><title>502 Bad Gateway</title></html>"},
            NetworkError,
            "Parsing the server response",
            id="502-html-from-a-proxy",
        ),
        pytest.param({"drop": True}, NetworkError, "Server disconnected without sending a response", id="drop"),
    ],
)
def test_set_my_commands_failures_and_what_ptb_raises(
    telegram_sandbox: TelegramSandbox,
    monkeypatch: pytest.MonkeyPatch,
    fault: dict[str, Any],
    error: type[TelegramError],
    message: str,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as a timedelta, without a warning
    telegram_sandbox.client.configure(faults=[{"method": "setMyCommands", **fault}])

    async def scenario() -> TelegramError:
        async with _bot(telegram_sandbox) as bot:
            with pytest.raises(error, match=re.escape(message)) as caught:
                await bot.set_my_commands([BotCommand("start", "Start")])
            # The fault is used up: the bot's retry works.
            assert await bot.set_my_commands([BotCommand("help", "Help")]) is True
            return caught.value

    raised = asyncio.run(scenario())
    if isinstance(raised, RetryAfter):
        assert raised.retry_after == dtm.timedelta(seconds=7)
    # The failed call had no effect; only the retry did.
    assert _commands(telegram_sandbox) == [{"command": "help", "description": "Help"}]


def test_404_for_a_missing_method_is_end_point_not_found_through_do_api_request(
    telegram_sandbox: TelegramSandbox,
) -> None:
    telegram_sandbox.client.inject_fault("setMyCommands", 404)

    async def scenario() -> None:
        async with _bot(telegram_sandbox) as bot:  # initialised: getMe worked, so the token is fine
            # PTB warns that set_my_commands exists, then maps the 404 of an initialised bot to EndPointNotFound.
            with (
                pytest.warns(PTBUserWarning, match="Please use 'Bot.set_my_commands'"),
                pytest.raises(EndPointNotFound, match="setMyCommands"),
            ):
                await bot.do_api_request("set_my_commands", api_kwargs={"commands": COMMANDS})

    asyncio.run(scenario())
    assert _outcomes(telegram_sandbox, "set_my_commands") == []
    assert _outcomes(telegram_sandbox, "setMyCommands") == [(404, "answered")]


@pytest.mark.parametrize("status", [None, 500])
def test_a_hang_longer_than_the_client_timeout_is_timed_out_and_takes_no_effect(
    telegram_sandbox: TelegramSandbox, status: int | None
) -> None:
    telegram_sandbox.client.inject_fault("setMyCommands", status, delay_s=60)

    async def scenario() -> None:
        async with _bot(telegram_sandbox) as bot:
            with pytest.raises(TimedOut):
                await bot.set_my_commands([BotCommand("start", "Start")])

    asyncio.run(scenario())
    # The client hung up; the sandbox notices, stops waiting and never carries the call out.
    wait_until(lambda: _outcomes(telegram_sandbox, "setMyCommands") == [(None, "client_gone")], what="hang abandoned")
    assert telegram_sandbox.client.config()["delayed_calls"] == 0
    assert _commands(telegram_sandbox) == []


def test_an_answer_delayed_after_the_effect_times_out_yet_the_message_was_sent(
    telegram_sandbox: TelegramSandbox,
) -> None:
    telegram_sandbox.client.send_message(CHAT, USER, "/start")
    telegram_sandbox.client.inject_fault("sendMessage", delay_s=60, after_effect=True)

    async def scenario() -> None:
        async with _bot(telegram_sandbox) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(CHAT, "Scan queued")

    asyncio.run(scenario())
    # What a retry-on-timeout would duplicate: the message is there although the bot saw an error.
    [sent] = telegram_sandbox.client.wait_for_bot_messages(CHAT, 1, timeout_s=5)
    assert sent["text"] == "Scan queued"


def test_a_connection_dropped_after_the_effect(telegram_sandbox: TelegramSandbox) -> None:
    telegram_sandbox.client.inject_fault("setMyCommands", drop=True, after_effect=True)
    with pytest.raises(httpx.RemoteProtocolError):
        telegram_sandbox.call("setMyCommands", commands=COMMANDS)
    assert _commands(telegram_sandbox) == COMMANDS
    assert _outcomes(telegram_sandbox, "setMyCommands") == [(None, "dropped")]


def test_an_error_after_the_effect(telegram_sandbox: TelegramSandbox) -> None:
    telegram_sandbox.client.inject_fault("setMyCommands", 502, after_effect=True)
    assert telegram_sandbox.call("setMyCommands", commands=COMMANDS).status_code == 502
    assert _commands(telegram_sandbox) == COMMANDS


def test_a_reset_ends_a_pending_delay(telegram_sandbox: TelegramSandbox) -> None:
    telegram_sandbox.client.send_message(CHAT, USER, "/start")
    telegram_sandbox.client.inject_fault("sendMessage", delay_s=60)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(telegram_sandbox.call, "sendMessage", chat_id=CHAT, text="late", timeout_s=30)
        wait_until(lambda: telegram_sandbox.client.config()["delayed_calls"] == 1, what="the call waits")
        telegram_sandbox.client.reset()
        with pytest.raises(httpx.RemoteProtocolError):
            pending.result(timeout=10)
    assert telegram_sandbox.client.bot_messages(CHAT) == []
    assert _outcomes(telegram_sandbox, "sendMessage") == [(None, "reset")]


@pytest.mark.parametrize(
    ("fault", "complaint"),
    [
        ({"method": "sendMessage"}, "needs a status, drop, result or delay_s"),
        ({"method": "sendMessage", "status": 500, "drop": True}, "exclude each other"),
        ({"method": "sendMessage", "status": 500, "result": True}, "exclude each other"),
        ({"method": "sendMessage", "result": True, "after_effect": False}, "after_effect must be true"),
        ({"method": "sendMessage", "status": 200}, "4xx or 5xx"),
        ({"method": "sendMessage", "raw_body": "<html/>"}, "needs a status"),
        ({"method": "sendMessage", "status": 429, "retry_after": 0}, "at least 1"),
        ({"method": "sendMessage", "drop": "yes"}, "true or false"),
        ({"status": 500}, "method name"),
    ],
)
def test_malformed_faults_are_refused_and_change_nothing(
    telegram_sandbox: TelegramSandbox, fault: dict[str, Any], complaint: str
) -> None:
    telegram_sandbox.client.inject_fault("getMe", 500)
    with pytest.raises(SandboxControlError, match=re.escape(complaint)) as refused:
        telegram_sandbox.client.configure(
            faults=[fault], clear_faults=True, flood={"per_chat_per_s": 1}, slow_chats={CHAT: 5}
        )
    assert refused.value.status == 400
    config = telegram_sandbox.client.config()
    assert [f["method"] for f in config["faults"]] == ["getme"]
    assert config["flood"]["per_chat_per_s"] is None
    assert config["slow_chats"] == {}
