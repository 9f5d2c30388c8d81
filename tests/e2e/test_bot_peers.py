"""The bot against peers stricter or odder than our sandboxes' defaults, and users who type anything.

A cosmetic call that fails must not stop the bot; a handler must not depend on the shape of an answer it does
not need; unknown input gets a pointer, not silence; what uvicorn logs is redacted like everything else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.handlers import selftest as selftest_handlers
from common.settings import Settings
from sandbox.server import free_port
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.bot import running_bot, running_bot_main
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
ADMIN = 1001
USER = 3003


@pytest.fixture
def bot_settings(telegram_sandbox: TelegramSandbox, settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        telegram_bot_token=telegram_sandbox.token,
        telegram_api_base_url=telegram_sandbox.url,
        admin_user_ids=str(ADMIN),
        bot_webhook_port=free_port(),
    )


@pytest.mark.parametrize("status", [404, 429, 500])
def test_a_failing_command_menu_call_does_not_stop_the_bot(
    telegram_sandbox: TelegramSandbox, bot_settings: Settings, status: int
) -> None:
    """setMyCommands only fills Telegram's menu: a server that lacks it (404), refuses it or fails keeps the bot up."""
    telegram_sandbox.client.inject_fault("setMyCommands", status=status, count=100)
    with running_bot_main(bot_settings):
        telegram_sandbox.client.send_message(USER, USER, "/start")
        reply = telegram_sandbox.client.wait_for_bot_messages(USER, 1, timeout_s=15)[0]
    assert "/help" in reply["text"]
    assert [r["status"] for r in telegram_sandbox.client.requests(method="setMyCommands")][:1] == [status]


@pytest.mark.parametrize("answer", [True, None, {}])
def test_an_edit_answered_in_an_odd_shape_is_still_a_success(
    telegram_sandbox: TelegramSandbox, bot_settings: Settings, monkeypatch: pytest.MonkeyPatch, answer: object
) -> None:
    monkeypatch.setattr(selftest_handlers, "WORKER_STATUS_TIMEOUT_S", 0.3)
    telegram_sandbox.client.inject_fault("editMessageText", result=answer, count=1)
    with running_bot(bot_settings):
        telegram_sandbox.client.send_message(ADMIN, ADMIN, "/sentry_info")
        reply = telegram_sandbox.client.wait_for_text(ADMIN, "Ни один воркер не ответил", timeout_s=10)
    assert len(telegram_sandbox.client.bot_messages(ADMIN)) == 1  # edited in place; no "something went wrong"
    assert "Что-то пошло не так" not in reply["text"]


def test_unknown_commands_and_text_get_a_pointer_in_private_and_silence_in_groups(
    telegram_sandbox: TelegramSandbox, bot_settings: Settings
) -> None:
    group = telegram_sandbox.admin_chat_id
    with running_bot(bot_settings):
        telegram_sandbox.client.send_message(USER, USER, "/frobnicate")
        telegram_sandbox.client.send_message(USER, USER, "hello?")
        telegram_sandbox.client.send_message(group, USER, "/frobnicate")
        telegram_sandbox.client.send_message(group, USER, "hello everyone")
        telegram_sandbox.client.send_message(group, USER, "/start")  # a barrier: answered after the others
        telegram_sandbox.client.wait_for_text(group, "/help", timeout_s=10)
        replies = telegram_sandbox.client.wait_for_bot_messages(USER, 2, timeout_s=10)
    assert [r["text"] for r in replies] == ["Я понимаю только команды. Список — /help"] * 2
    assert len(telegram_sandbox.client.bot_messages(group)) == 1  # only the /start greeting


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/cleanup old", "После «old» нужно число дней от 1 до 3650, например old 30."),
        ("/cleanup old soon", "Не понимаю «soon»: после «old» нужно число дней от 1 до 3650, например old 30."),
        ("/cleanup frobnicate", "Не понимаю «frobnicate»."),
    ],
)
def test_a_cleanup_argument_problem_says_what_is_missing_or_wrong(
    telegram_sandbox: TelegramSandbox, bot_settings: Settings, command: str, expected: str
) -> None:
    with running_bot(bot_settings):
        telegram_sandbox.client.send_message(ADMIN, ADMIN, command)
        reply = telegram_sandbox.client.wait_for_text(ADMIN, "Использование: /cleanup", timeout_s=10)
    assert reply["text"].startswith(expected)


def test_uvicorns_own_log_lines_are_redacted_too() -> None:
    """uvicorn.Config runs logging.dictConfig by default, which would replace the redacting handlers."""
    token = "7312345678:AAHfakeTokenForTheUvicornLogTest_0123456"
    script = f"""
import logging
from common.logs import configure_logging, install_redaction
from common.observability.scrubbing import Scrubber
from bot.app import webhook_server
from bot.runtime import BotRuntime
from tests.support.settings import make_settings
settings = make_settings(telegram_bot_token={token!r})
configure_logging(settings)
server = webhook_server(settings, BotRuntime.create(settings))
install_redaction(Scrubber(settings.secret_values()))
logging.getLogger("uvicorn.error").error("token in a uvicorn line: %s", {token!r})
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "token in a uvicorn line" in done.stderr
    assert token not in done.stderr
    assert token.split(":")[1] not in done.stderr


def test_one_slow_chat_does_not_hold_up_the_others(telegram_sandbox: TelegramSandbox, bot_settings: Settings) -> None:
    """Telegram makes every call for one chat wait 20 s (flood control, a slow link): other users are answered
    meanwhile. Handled one update at a time, the second user's reply would come only after the slow chat's."""
    slow, other = 5005, 6006
    telegram_sandbox.client.set_slow_chats({slow: 20})
    with running_bot(bot_settings):
        telegram_sandbox.client.send_message(slow, slow, "/start")
        wait_until(lambda: telegram_sandbox.client.config()["delayed_calls"] >= 1, 10, what="the slow chat's reply")
        telegram_sandbox.client.send_message(other, other, "/start")
        [reply] = telegram_sandbox.client.wait_for_bot_messages(other, 1, timeout_s=10)
        assert not telegram_sandbox.client.bot_messages(slow)  # still waiting: the other user did not wait for it
        telegram_sandbox.client.set_slow_chats({})
    assert "/help" in reply["text"]
