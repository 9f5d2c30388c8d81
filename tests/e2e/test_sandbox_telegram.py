"""The Telegram sandbox as its real clients see it: python-telegram-bot, raw httpx, and the console chat."""

from __future__ import annotations

import asyncio
import datetime as dtm
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from telegram import Bot, Message, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter
from telegram.ext import AIORateLimiter, ApplicationBuilder, CommandHandler, ContextTypes

from tests.plugins.sandbox_telegram import TelegramSandbox

CHAT = USER = 1001


def _eventually(condition: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout_s}s")
        time.sleep(0.02)


def _call(sandbox: TelegramSandbox, method: str, token: str | None = None, **params: Any) -> httpx.Response:
    return httpx.post(f"{sandbox.base_url}{token or sandbox.token}/{method}", json=params, timeout=15)


def test_ptb_application_answers_start_sent_through_the_control_api(telegram_sandbox: TelegramSandbox) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None
        assert update.message is not None
        await update.message.reply_text(f"Hello, <b>{update.effective_user.first_name}</b>!", parse_mode="HTML")

    async def scenario() -> list[dict[str, Any]]:
        builder = ApplicationBuilder().token(telegram_sandbox.token).base_url(telegram_sandbox.base_url)
        app = builder.rate_limiter(AIORateLimiter()).build()
        app.add_handler(CommandHandler("start", start))
        assert app.updater is not None
        async with app:
            await app.start()
            await app.updater.start_polling(timeout=dtm.timedelta(seconds=5))
            try:
                client = telegram_sandbox.client
                await asyncio.to_thread(client.send_message, CHAT, USER, "/start", first_name="Ada")
                return await asyncio.to_thread(client.wait_for_bot_messages, CHAT, 1, 10)
            finally:
                await app.updater.stop()
                await app.stop()

    [reply] = asyncio.run(scenario())
    assert reply["text"] == "Hello, Ada!"
    assert reply["source_text"] == "Hello, <b>Ada</b>!"
    assert reply["entities"] == [{"type": "bold", "offset": 7, "length": 3}]
    calls = telegram_sandbox.client.requests()
    assert {"getMe", "deleteWebhook", "getUpdates", "sendMessage"} <= {c["method"] for c in calls}
    assert all(telegram_sandbox.token not in c["path"] and "<redacted>" in c["path"] for c in calls)


def test_get_updates_long_poll_returns_as_soon_as_a_message_arrives(telegram_sandbox: TelegramSandbox) -> None:
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        poll = pool.submit(_call, telegram_sandbox, "getUpdates", timeout=10)
        _eventually(lambda: telegram_sandbox.client.config()["waiting_polls"] == 1, what="getUpdates waiting")
        sent = telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage csgo standard")
        response = poll.result(timeout=5)
    assert time.monotonic() - started < 3
    [update] = response.json()["result"]
    assert update["update_id"] == sent["update_id"]
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 10}]
    # The offset confirms the update: the next poll no longer returns it.
    confirmed = _call(telegram_sandbox, "getUpdates", offset=sent["update_id"] + 1, timeout=0)
    assert confirmed.json() == {"ok": True, "result": []}


def test_edit_message_text_is_reflected_with_history(telegram_sandbox: TelegramSandbox) -> None:
    telegram_sandbox.client.send_message(CHAT, USER, "/arbitrage")

    async def scenario() -> None:
        async with Bot(telegram_sandbox.token, base_url=telegram_sandbox.base_url) as bot:
            queued = await bot.send_message(CHAT, "Scan queued…")
            edited = await bot.edit_message_text("Found 3 items", chat_id=CHAT, message_id=queued.message_id)
            assert isinstance(edited, Message)
            assert edited.edit_date is not None
            with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
                await bot.edit_message_text("Found 3 items", chat_id=CHAT, message_id=queued.message_id)

    asyncio.run(scenario())
    message = telegram_sandbox.client.wait_for_text(CHAT, "Found 3 items", timeout_s=5)
    assert [v["text"] for v in message["history"]] == ["Scan queued…"]
    assert telegram_sandbox.client.wait_for_text(CHAT, "queued", timeout_s=1)["message_id"] == message["message_id"]


def test_wrong_token_is_unauthorized(telegram_sandbox: TelegramSandbox) -> None:
    response = _call(telegram_sandbox, "getMe", token="42:" + "x" * 35)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}

    async def scenario() -> None:
        async with Bot("42:" + "x" * 35, base_url=telegram_sandbox.base_url) as bot:
            await bot.get_me()

    with pytest.raises(InvalidToken):
        asyncio.run(scenario())


def test_unknown_method_and_unknown_chat(telegram_sandbox: TelegramSandbox) -> None:
    assert _call(telegram_sandbox, "sendTelepathy").json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found",
    }
    response = _call(telegram_sandbox, "sendMessage", chat_id=777, text="hi")
    assert (response.status_code, response.json()["description"]) == (400, "Bad Request: chat not found")


def test_flood_limit_answers_429_and_ptb_raises_retry_after(
    telegram_sandbox: TelegramSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 warns when RetryAfter.retry_after is read as an int; opting into timedelta keeps warnings errors.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    telegram_sandbox.client.send_message(CHAT, USER, "/start")
    telegram_sandbox.client.set_flood_limits(per_chat_per_s=1)

    async def scenario() -> RetryAfter:
        async with Bot(telegram_sandbox.token, base_url=telegram_sandbox.base_url) as bot:
            await bot.send_message(CHAT, "first")
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(CHAT, "second")
            return caught.value

    error = asyncio.run(scenario())
    assert error.retry_after == dtm.timedelta(seconds=1)
    body = _call(telegram_sandbox, "sendMessage", chat_id=CHAT, text="third").json()
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


def test_html_parse_error_is_a_bad_request(telegram_sandbox: TelegramSandbox) -> None:
    telegram_sandbox.client.send_message(CHAT, USER, "/start")

    async def scenario() -> None:
        async with Bot(telegram_sandbox.token, base_url=telegram_sandbox.base_url) as bot:
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag"):
                await bot.send_message(CHAT, "profit < 5% for <b>AK-47</b>", parse_mode="HTML")

    asyncio.run(scenario())
    unbalanced = _call(telegram_sandbox, "sendMessage", chat_id=CHAT, text="<b>x</i>", parse_mode="HTML").json()
    assert unbalanced["description"].startswith("Bad Request: can't parse entities: Unmatched end tag")
    assert telegram_sandbox.client.bot_messages(CHAT) == []


@pytest.mark.parametrize(
    ("text", "description"),
    [("   ", "Bad Request: message text is empty"), ("x" * 4097, "Bad Request: message is too long")],
)
def test_message_text_length_limits(telegram_sandbox: TelegramSandbox, text: str, description: str) -> None:
    telegram_sandbox.client.send_message(CHAT, USER, "/start")
    assert _call(telegram_sandbox, "sendMessage", chat_id=CHAT, text=text).json()["description"] == description


def test_blocked_chat_and_injected_fault(telegram_sandbox: TelegramSandbox) -> None:
    telegram_sandbox.client.send_message(CHAT, USER, "/start")
    telegram_sandbox.client.block_chats(CHAT)

    async def blocked() -> None:
        async with Bot(telegram_sandbox.token, base_url=telegram_sandbox.base_url) as bot:
            with pytest.raises(Forbidden, match="bot was blocked by the user"):
                await bot.send_message(CHAT, "hello?")

    asyncio.run(blocked())
    telegram_sandbox.client.block_chats()
    telegram_sandbox.client.inject_fault("sendMessage", 502, count=1)
    assert _call(telegram_sandbox, "sendMessage", chat_id=CHAT, text="a").status_code == 502
    assert _call(telegram_sandbox, "sendMessage", chat_id=CHAT, text="b").status_code == 200


def test_form_and_multipart_bodies_and_inline_buttons(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    sandbox.client.send_message(CHAT, USER, "/start")
    url = f"{sandbox.base_url}{sandbox.token}/sendMessage"
    keyboard = '{"inline_keyboard": [[{"text": "Refresh", "callback_data": "refresh"}]]}'
    form = httpx.post(url, data={"chat_id": str(CHAT), "text": "form", "reply_markup": keyboard}).json()
    assert form["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "refresh"
    multipart = httpx.post(url, files={"chat_id": (None, str(CHAT)), "text": (None, "multipart")}).json()
    assert multipart["result"]["text"] == "multipart"

    pressed = sandbox.client.press_button(CHAT, USER, form["result"]["message_id"], "refresh")
    updates = _call(sandbox, "getUpdates").json()["result"]
    assert updates[-1]["callback_query"]["data"] == "refresh"
    assert _call(sandbox, "answerCallbackQuery", callback_query_id=pressed["callback_query_id"], text="ok").json()["ok"]
    assert sandbox.client.callback_answer(pressed["callback_query_id"])["text"] == "ok"  # type: ignore[index]


def _chat_cli(sandbox_url: str, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "sandbox.chat", "--url", sandbox_url, "--no-color", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_chat_cli_send_mode_prints_the_reply(telegram_sandbox: TelegramSandbox) -> None:
    args = ("--chat-id", "2002", "--send", "/balance", "--wait", "10", "--replies", "1")
    with _chat_cli(telegram_sandbox.url, *args) as cli:
        try:
            # Play the bot: take the user's command from a long poll, answer with HTML.
            [update] = _call(telegram_sandbox, "getUpdates", timeout=10).json()["result"]
            assert update["message"]["text"] == "/balance"
            html = "<b>Balance:</b> $12.50 &amp; 0 items"
            assert _call(telegram_sandbox, "sendMessage", chat_id=2002, text=html, parse_mode="HTML").json()["ok"]
            stdout, stderr = cli.communicate(timeout=15)
        finally:
            cli.kill()
    assert cli.returncode == 0, stderr
    assert "Balance: $12.50 & 0 items" in stdout


def test_chat_cli_reports_an_unreachable_sandbox() -> None:
    with _chat_cli("http://127.0.0.1:9", "--send", "/start", "--wait", "1") as cli:
        _, stderr = cli.communicate(timeout=15)
    assert cli.returncode == 2
    assert "no Telegram sandbox reachable" in stderr
