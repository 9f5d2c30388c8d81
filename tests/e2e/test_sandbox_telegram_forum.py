"""Telegram sandbox forum topics and user languages, through python-telegram-bot, raw calls and the console."""

from __future__ import annotations

import asyncio
import datetime as dtm
import re
import subprocess
import sys
from typing import Any

import pytest
from telegram import Bot, Message, Update
from telegram.error import BadRequest
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from sandbox.telegram.client import SandboxControlError
from tests.plugins.sandbox_telegram import TelegramSandbox

USER = 1001
ALERTS, SCANS = 2, 3  # the fixture forum's topics


def test_a_ptb_bot_sends_into_a_forum_topic_and_edits_there(telegram_sandbox: TelegramSandbox) -> None:
    forum = telegram_sandbox.forum_chat_id

    async def scenario() -> tuple[Message, Message | bool]:
        async with Bot(telegram_sandbox.token, base_url=telegram_sandbox.base_url) as bot:
            sent = await bot.send_message(forum, "Scan queued", message_thread_id=SCANS)
            # editMessageText has no message_thread_id: the message stays in its topic.
            edited = await bot.edit_message_text("Found 3 items", chat_id=forum, message_id=sent.message_id)
            return sent, edited

    sent, edited = asyncio.run(scenario())
    assert sent.message_thread_id == SCANS
    assert sent.is_topic_message is True
    assert sent.chat.is_forum is True
    # On Telegram a topic message that replies to nothing is a reply to the topic's creation message.
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.message_id == SCANS
    assert sent.reply_to_message.forum_topic_created is not None
    assert sent.reply_to_message.forum_topic_created.name == "Scans"
    assert isinstance(edited, Message)
    assert edited.message_thread_id == SCANS
    [stored] = telegram_sandbox.client.bot_messages(forum)
    assert (stored["message_thread_id"], stored["text"]) == (SCANS, "Found 3 items")
    assert stored["reply_to_message_id"] is None  # no explicit reply


def test_unknown_threads_are_not_found(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    sandbox.client.send_message(USER, USER, "/start")
    # An unknown topic, the General topic (1), and a chat that is no forum.
    for chat_id, thread_id in ((sandbox.forum_chat_id, 99), (sandbox.forum_chat_id, 1), (sandbox.admin_chat_id, 2)):
        response = sandbox.call("sendMessage", chat_id=chat_id, text="hi", message_thread_id=thread_id)
        assert (response.status_code, response.json()["description"]) == (400, "Bad Request: message thread not found")

    async def ptb() -> None:
        async with Bot(sandbox.token, base_url=sandbox.base_url) as bot:
            with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
                await bot.send_message(sandbox.forum_chat_id, "hi", message_thread_id=42)

    asyncio.run(ptb())
    # Without a thread the message goes to General: no thread id, not a topic message.
    general = sandbox.call("sendMessage", chat_id=sandbox.forum_chat_id, text="hello all").json()["result"]
    assert "message_thread_id" not in general
    assert "is_topic_message" not in general


def test_a_reply_lands_in_the_replied_messages_topic(telegram_sandbox: TelegramSandbox) -> None:
    forum = telegram_sandbox.forum_chat_id
    asked = telegram_sandbox.client.send_message(forum, USER, "/arbitrage", message_thread_id=ALERTS)
    assert asked["update"]["message"]["message_thread_id"] == ALERTS
    reply = telegram_sandbox.call(
        "sendMessage", chat_id=forum, text="On it", reply_parameters={"message_id": asked["message_id"]}
    ).json()["result"]
    assert reply["message_thread_id"] == ALERTS
    assert reply["reply_to_message"]["message_id"] == asked["message_id"]


def test_ptb_reply_text_answers_in_the_users_topic_and_language(telegram_sandbox: TelegramSandbox) -> None:
    forum = telegram_sandbox.forum_chat_id
    seen: dict[str, Any] = {}

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None
        assert update.message is not None
        seen["language"] = update.effective_user.language_code
        await update.message.reply_text("Привет" if update.effective_user.language_code == "ru" else "Hello")

    async def scenario() -> list[dict[str, Any]]:
        app = ApplicationBuilder().token(telegram_sandbox.token).base_url(telegram_sandbox.base_url).build()
        app.add_handler(CommandHandler("start", start))
        assert app.updater is not None
        async with app:
            await app.start()
            await app.updater.start_polling(timeout=dtm.timedelta(seconds=5))
            try:
                client = telegram_sandbox.client
                await asyncio.to_thread(
                    client.send_message, forum, USER, "/start", language_code="ru", message_thread_id=SCANS
                )
                return await asyncio.to_thread(client.wait_for_bot_messages, forum, 1, 10)
            finally:
                await app.updater.stop()
                await app.stop()

    [reply] = asyncio.run(scenario())
    assert seen["language"] == "ru"
    assert (reply["text"], reply["message_thread_id"]) == ("Привет", SCANS)


def test_language_code_reaches_message_and_callback_updates(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    sandbox.client.send_message(USER, USER, "/start", language_code="ru")
    sandbox.client.send_message(USER, USER, "/help")
    sandbox.client.send_message(USER, USER, "/help", language_code="")
    keyboard = {"inline_keyboard": [[{"text": "Refresh", "callback_data": "refresh"}]]}
    sent = sandbox.call("sendMessage", chat_id=USER, text="Top items", reply_markup=keyboard).json()["result"]
    sandbox.client.press_button(USER, USER, sent["message_id"], "refresh", language_code="pt-br")
    updates = sandbox.call("getUpdates").json()["result"]
    senders = [u["message"]["from"] for u in updates[:3]] + [updates[3]["callback_query"]["from"]]
    assert [s.get("language_code") for s in senders] == ["ru", "en", None, "pt-br"]
    with pytest.raises(SandboxControlError, match="IETF language tag"):
        sandbox.client.send_message(USER, USER, "/start", language_code="Russian!")


def test_forum_registration_through_the_control_api(telegram_sandbox: TelegramSandbox) -> None:
    client = telegram_sandbox.client
    chat = client.register_chat(
        -100777, chat_type="supergroup", title="Desk", is_forum=True, topics=[{"name": "Ops"}, {"name": "Deals"}]
    )
    assert chat["is_forum"] is True
    # Topic ids are the ids of their creation messages, numbered on from the chat's messages (1 is General).
    assert [(t["message_thread_id"], t["name"]) for t in chat["topics"]] == [(2, "Ops"), (3, "Deals")]
    renamed = client.register_chat(-100777, topics=[{"message_thread_id": 3, "name": "Big deals"}])
    assert renamed["topics"][1]["name"] == "Big deals"
    assert renamed["type"] == "supergroup"
    listed = next(c for c in client.chats() if c["id"] == -100777)
    assert listed["topics"] == renamed["topics"]
    creation = client.chat_messages(-100777, include_user=True)["messages"]
    # As on Telegram, the creation message keeps the name the topic was created with.
    assert [m["service"]["forum_topic_created"]["name"] for m in creation] == ["Ops", "Deals"]
    assert [m["message_id"] for m in creation] == [2, 3]


@pytest.mark.parametrize(
    ("body", "status", "complaint"),
    [
        ({"chat_id": -100778, "type": "group", "is_forum": True}, 400, "only a supergroup can be a forum"),
        ({"chat_id": -100778, "type": "supergroup", "topics": [{"name": "x"}]}, 400, "topics need a forum"),
        ({"chat_id": -100778, "type": "supergroup", "is_forum": True, "topics": [{"name": ""}]}, 400, "name"),
        (
            {
                "chat_id": -100778,
                "type": "supergroup",
                "is_forum": True,
                "topics": [{"message_thread_id": 1, "name": "x"}],
            },
            400,
            "General topic",
        ),
        (
            {"chat_id": -100778, "type": "supergroup", "is_forum": True, "topics": [{"name": "x", "icon_color": 1}]},
            400,
            "icon_color",
        ),
        ({"chat_id": -1001000000002, "topics": [{"message_thread_id": 9, "name": "x"}]}, 200, '"name":"x"'),
    ],
)
def test_forum_registration_is_validated(
    telegram_sandbox: TelegramSandbox, body: dict[str, Any], status: int, complaint: str
) -> None:
    response = telegram_sandbox.call_control("POST", "/_sandbox/chats", json=body)
    assert response.status_code == status, response.text
    assert complaint in response.text


def test_a_topic_cannot_take_the_id_of_an_existing_message(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    for text in ("/start", "/help"):  # messages 1 and 2 in the admin chat
        sandbox.client.send_message(sandbox.admin_chat_id, USER, text)
    sandbox.client.register_chat(sandbox.admin_chat_id, is_forum=True)
    with pytest.raises(SandboxControlError, match="already exists"):
        sandbox.client.register_chat(sandbox.admin_chat_id, topics=[{"message_thread_id": 2, "name": "x"}])
    topic = sandbox.client.register_chat(sandbox.admin_chat_id, topics=[{"name": "x"}])["topics"][0]
    assert topic["message_thread_id"] == 3


def test_a_user_message_keeps_a_registered_chats_type(telegram_sandbox: TelegramSandbox) -> None:
    sandbox = telegram_sandbox
    update = sandbox.client.send_message(sandbox.admin_chat_id, USER, "/sentry_info")["update"]
    assert update["message"]["chat"]["type"] == "supergroup"
    assert next(c for c in sandbox.client.chats() if c["id"] == sandbox.admin_chat_id)["type"] == "supergroup"


# -- console chat ------------------------------------------------------------------------------------


def _chat_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sandbox.chat", "--no-color", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def test_chat_cli_help_lists_url_and_language() -> None:
    result = _chat_cli("--help")
    assert result.returncode == 0
    for flag in ("--url", "--language", "--thread-id", "--chat-id"):
        assert flag in result.stdout
    assert "admin" in result.stdout


def test_chat_cli_speaks_as_the_announced_user_in_the_chosen_language(telegram_sandbox: TelegramSandbox) -> None:
    # A URL as make run prints it, or TELEGRAM_API_BASE_URL-style with /bot: both reach the sandbox.
    url = telegram_sandbox.url.replace("http://", "") + "/bot/"
    result = _chat_cli("--url", url, "--language", "ru", "--send", "/start", "--wait", "0")
    assert result.returncode == 1, result.stderr  # nobody answered within --wait 0
    assert re.search(r"user 1001 \(Operator\) - an admin under make run unless ADMIN_USER_IDS is set", result.stderr)
    assert "chat 1001" in result.stderr
    assert "language ru" in result.stderr
    assert result.stdout == ""  # stdout is for the bot's replies only
    [update] = telegram_sandbox.call("getUpdates").json()["result"]
    assert update["message"]["from"]["language_code"] == "ru"
    assert update["message"]["from"]["id"] == USER


def test_chat_cli_refuses_a_url_that_is_not_http() -> None:
    result = _chat_cli("--url", "ftp://example.org", "--send", "/start")
    assert result.returncode == 2
    assert "http(s) URL" in result.stderr
