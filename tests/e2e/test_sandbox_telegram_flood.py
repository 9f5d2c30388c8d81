"""Telegram sandbox flood control: which calls count, what 429 says, the per-chat record, slow chats."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from telegram import Bot
from telegram.ext import AIORateLimiter, ApplicationBuilder

from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.waiting import wait_until

CHAT = USER = 1001
OTHER = 2002
GROUP = -100500


def _too_many(retry_after: int) -> dict[str, object]:
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


def test_edits_count_against_the_per_chat_limit(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    sandbox.client.send_message(CHAT, USER, "/start")
    sandbox.client.set_flood_limits(per_chat_per_s=1)
    sent = sandbox.call("sendMessage", chat_id=CHAT, text="Scan queued").json()["result"]
    edit = sandbox.call("editMessageText", chat_id=CHAT, message_id=sent["message_id"], text="Found 3 items")
    assert (edit.status_code, edit.json()) == (429, _too_many(1))
    assert sandbox.client.bot_messages(CHAT)[0]["text"] == "Scan queued"  # the refused edit did nothing
    # Calls that do not send (chat actions, deletions) are not limited.
    assert sandbox.call("sendChatAction", chat_id=CHAT, action="typing").json()["ok"]
    record = sandbox.client.chat_flood_record(CHAT)
    assert record["sent"] == 1
    assert record["refused"] == 1
    assert record["refused_by"] == {"per_chat_per_s": 1}
    assert record["last_retry_after"] == 1


@pytest.mark.parametrize("chat_type", ["group", "supergroup", "channel"])
def test_group_limit_answers_the_real_remaining_wait(telegram_sandbox: TelegramSandbox, chat_type: str) -> None:
    sandbox = telegram_sandbox
    sandbox.client.register_chat(GROUP, chat_type=chat_type, title="Traders")
    sandbox.client.set_flood_limits(group_per_min=2)
    first_sent = time.monotonic()
    for text in ("one", "two"):
        assert sandbox.call("sendMessage", chat_id=GROUP, text=text).json()["ok"]
    refused = sandbox.call("sendMessage", chat_id=GROUP, text="three")
    checked = time.monotonic()
    retry_after = refused.json()["parameters"]["retry_after"]
    # The first send leaves the 60 s window at first_sent + 60: the wait is that, rounded up to whole seconds.
    assert math.ceil(60 - (checked - first_sent)) <= retry_after <= 60
    assert refused.json() == _too_many(retry_after)
    # A private chat is not under the group limit.
    sandbox.client.send_message(CHAT, USER, "/start")
    assert sandbox.call("sendMessage", chat_id=CHAT, text="hi").json()["ok"]
    record = sandbox.client.flood_record()
    assert record["chats"][GROUP]["refused_by"] == {"group_per_min": 1}
    assert record["chats"][GROUP]["peak_per_min"] == 2
    assert record["chats"][CHAT]["refused"] == 0
    assert record["total"]["sent"] == 3
    assert record["total"]["refused"] == 1


def test_global_limit_spans_chats(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    for chat in (CHAT, OTHER, 3003):
        sandbox.client.send_message(chat, chat, "/start")
    sandbox.client.set_flood_limits(global_per_s=2)
    answers = [sandbox.call("sendMessage", chat_id=chat, text="news").json() for chat in (CHAT, OTHER, 3003)]
    assert [a["ok"] for a in answers] == [True, True, False]
    assert answers[2] == _too_many(1)
    assert sandbox.client.chat_flood_record(3003)["refused_by"] == {"global_per_s": 1}


def test_a_ptb_bot_with_a_retrying_rate_limiter_delivers_everything_within_the_limit(
    telegram_sandbox: TelegramSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    sandbox = telegram_sandbox
    sandbox.client.send_message(CHAT, USER, "/start")
    sandbox.client.set_flood_limits(per_chat_per_s=1)

    async def scenario() -> None:
        # PTB's limiter paces only overall and group sends; 1/s in a private chat is left to its retries,
        # which wait the retry_after the sandbox answers.
        limiter = AIORateLimiter(max_retries=3)
        app = ApplicationBuilder().token(sandbox.token).base_url(sandbox.base_url).rate_limiter(limiter).build()
        async with app:
            await asyncio.gather(*(app.bot.send_message(CHAT, f"part {n}") for n in range(3)))

    asyncio.run(scenario())
    assert sorted(m["text"] for m in sandbox.client.bot_messages(CHAT)) == ["part 0", "part 1", "part 2"]
    record = sandbox.client.chat_flood_record(CHAT)
    assert record["sent"] == 3
    assert record["refused"] >= 1  # it did run into the limit ...
    assert record["peak_per_s"] == 1  # ... and never got more than the limit through


def test_a_plain_bot_is_measured_even_with_limits_off(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    sandbox.client.send_message(CHAT, USER, "/start")

    async def burst() -> None:
        async with Bot(sandbox.token, base_url=sandbox.base_url) as bot:
            for n in range(4):
                await bot.send_message(CHAT, f"burst {n}")

    asyncio.run(burst())
    record = sandbox.client.chat_flood_record(CHAT)
    assert (record["sent"], record["refused"]) == (4, 0)
    # Four sends within well under a second: more than Telegram's 1/s per chat, which a test can assert on.
    assert record["peak_per_s"] >= 2
    sandbox.client.reset()
    assert sandbox.client.flood_record()["chats"] == {}


def test_one_slow_chat_does_not_hold_up_the_others(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    for chat in (CHAT, OTHER):
        sandbox.client.send_message(chat, chat, "/start")
    sandbox.client.set_slow_chats({CHAT: 3.0})
    assert sandbox.client.config()["slow_chats"] == {str(CHAT): 3.0}
    with ThreadPoolExecutor(2) as pool:
        started = time.monotonic()
        slow = pool.submit(sandbox.call, "sendMessage", chat_id=CHAT, text="to the slow chat")
        wait_until(lambda: sandbox.client.config()["delayed_calls"] == 1, what="the slow call waits")
        fast = pool.submit(sandbox.call, "sendMessage", chat_id=OTHER, text="to the other chat")
        assert fast.result(timeout=10).json()["ok"]
        assert not slow.done()
        assert sandbox.client.bot_messages(CHAT) == []  # the slow send has not happened yet
        assert slow.result(timeout=10).json()["result"]["text"] == "to the slow chat"
        assert time.monotonic() - started >= 3.0
    sandbox.client.set_slow_chats({})
    assert sandbox.client.config()["slow_chats"] == {}
