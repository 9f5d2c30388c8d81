"""`make run` end to end, as a new user runs it: `.env.example` copied verbatim and nothing else on the machine.

The launcher brings up sandboxes, embedded Redis, two worker pools, beat, bot and Flower; a user's /start
through the Telegram sandbox is answered; Ctrl-C stops everything. A child that dies is reported at once.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from sandbox.sentry import SentrySandboxClient
from sandbox.telegram import TelegramSandboxClient
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
ADMIN_CHAT_ID = -1001000000001


def resolve_issue_id(sentry: SentrySandboxClient, page: dict[str, object]) -> str:
    """The id of the issue a page links to (its link ends in /issues/<id>/...)."""
    for entity in page.get("entities", []):  # type: ignore[attr-defined]
        match = re.search(r"/issues/(\d+)/", str(entity.get("url", "")))
        if match:
            return match.group(1)
    raise AssertionError(f"no issue link on the page: {page}")


def launch(tmp_path: Path, *args: str, **env_changes: str) -> tuple[subprocess.Popen[str], list[str]]:
    """The launcher with a copied .env.example as its only configuration (plus ``env_changes``)."""
    env_file = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", env_file)
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env |= {"ENV_FILE": str(env_file), "PYTHONUNBUFFERED": "1", **env_changes}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "scripts.run_local", "--state-dir", str(tmp_path / "state"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(launcher.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    return launcher, output


def stop(launcher: subprocess.Popen[str]) -> int:
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGINT)
    code = launcher.wait(timeout=60)
    launcher.stdout.close()  # type: ignore[union-attr]
    return code


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_make_run_on_a_copied_env_example_serves_the_bot_offline_and_stops_cleanly(
    tmp_path: Path, postgres_database: str
) -> None:
    # PostgreSQL with a password in its URL (the test server trusts any): the banner must never show it.
    password = "Sup3r-Secret-Pw"
    database_url = postgres_database.replace("postgres@", f"postgres:{password}@", 1)
    launcher, output = launch(tmp_path, "--concurrency", "1", DATABASE_URL=database_url)
    try:
        wait_until(
            lambda: any("Press Ctrl-C" in line for line in output) or launcher.poll() is not None,
            timeout_s=120,
            what="the stack to start",
        )
        banner = "".join(output)
        assert launcher.poll() is None, banner
        telegram_url = re.search(r"Telegram sandbox\s+(http://\S+)", banner).group(1)  # type: ignore[union-attr]
        sentry_url = re.search(r"Sentry sandbox\s+(http://\S+)", banner).group(1)  # type: ignore[union-attr]
        # REDIS_URL= in the copied file means "not set": the embedded Redis starts.
        assert "Redis (embedded)" in banner
        assert "Flower" in banner
        assert f"make chat ARGS='--url {telegram_url}'" in banner
        assert "an admin" in banner
        assert "interactive (scans,sentry,default,alerts, 1 processes), maintenance (1)" in banner
        assert re.search(r"Logs .*\{redis,worker,maintenance,beat,bot,flower\}\.log", banner), banner
        assert password not in banner
        assert "Database          postgresql+psycopg://postgres:***@" in banner

        with TelegramSandboxClient(telegram_url) as telegram:
            telegram.send_message(1001, 1001, "/start")
            reply = telegram.wait_for_bot_messages(1001, count=1, timeout_s=30)[0]
        assert "/help" in reply["text"]

        # The bot's command transaction reached the Sentry sandbox over real HTTP.
        with SentrySandboxClient(sentry_url) as sentry:
            sentry.wait_for_events(
                lambda e: e["payload"].get("transaction") == "/start", type="transaction", timeout_s=30
            )

        # The alert walk-through (README): /test_sentry error pages the admin chat through the sandbox's signed
        # webhook, and Resolve on the page resolves that issue in the sandbox.
        assert re.search(
            r"alert rules: .*Trading failed.*; webhooks signed to http://127.0.0.1:\d+/sentry-webhook", banner
        )
        with TelegramSandboxClient(telegram_url) as telegram, SentrySandboxClient(sentry_url) as sentry:
            telegram.send_message(1001, 1001, "/test_sentry error")
            page = telegram.wait_for_text(ADMIN_CHAT_ID, "Сбой торговли", timeout_s=60)
            resolve = page["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            telegram.press_button(ADMIN_CHAT_ID, 1001, page["message_id"], resolve)
            telegram.wait_for_text(ADMIN_CHAT_ID, "Решено", timeout_s=30)
            [issue] = [i for i in sentry.issues() if i["id"] == resolve_issue_id(sentry, page)]
            assert issue["status"] == "resolved"

        # The banner's way to see a Crons check-in now: the weekly cleanup, fired as beat fires it, run by the
        # maintenance worker, its check-in closed ok in the Sentry sandbox.
        command = re.search(r"Crons now\s+(make beat-now .*?)\s+\(", banner).group(1)  # type: ignore[union-attr]
        env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
        env["ENV_FILE"] = str(tmp_path / ".env")
        fired = subprocess.run(
            ["bash", "-c", f"{command} WAIT=60"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
        )
        assert fired.returncode == 0, fired.stdout + fired.stderr
        assert re.search(
            r"Sentry shows check-in [0-9a-f]{32} of monitor sentry-cleanup-weekly-test-issues: ok", fired.stdout
        )
        assert (tmp_path / "state" / "make-run.env").stat().st_mode & 0o077 == 0
    finally:
        code = stop(launcher)
    assert code == 0, "".join(output)
    assert not (tmp_path / "state" / "make-run.env").exists()
    assert "stopping worker" in "".join(output)
    assert password not in "".join(output)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_child_that_dies_is_reported_at_once_with_the_end_of_its_log(
    tmp_path: Path, telegram_sandbox: TelegramSandbox
) -> None:
    """No waiting out a 60 s readiness timeout for a bot that is already gone (here: Telegram refuses its token)."""
    launcher, output = launch(
        tmp_path,
        "--no-sandbox",
        "--concurrency",
        "1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'app.sqlite3'}",
        TELEGRAM_BOT_TOKEN="123456789:AAHaTokenTheSandboxDoesNotKnow000000",
        TELEGRAM_API_BASE_URL=telegram_sandbox.url,
    )
    started = time.monotonic()
    try:
        code = launcher.wait(timeout=90)
    finally:
        stop(launcher)
    text = "".join(output)
    assert code == 1, text
    assert time.monotonic() - started < 45, text  # well before the 60 s readiness timeout
    assert re.search(r"bot exited with code \d+; the end of .*bot\.log", text), text
    assert "telegram.error.InvalidToken" in text  # the tail of its log, where the reason is


def test_the_embedded_redis_keeps_a_queued_scan_across_a_restart(tmp_path: Path) -> None:
    """`make run`'s Redis used to keep nothing: an acknowledged, queued scan was gone after a restart."""
    from scripts.run_local import Stack, start_embedded_redis

    message = '{"body": "a queued arbitrage.scan"}'
    for round_number in range(2):
        stack = Stack(state_dir=tmp_path)
        stack.logs.mkdir(parents=True, exist_ok=True)
        start_embedded_redis(stack)
        client = redis.Redis.from_url(stack.env["REDIS_URL"], decode_responses=True)
        try:
            if round_number == 0:
                client.lpush("scans", message)  # what the bot's enqueue leaves in the queue
            else:
                assert client.lrange("scans", 0, -1) == [message]  # back from the append-only file
        finally:
            client.close()
            stack.stop()
