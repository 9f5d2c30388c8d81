"""`make run` end to end: with no credentials the launcher brings up sandboxes, embedded Redis, worker,
beat, bot and Flower; a user's /start through the Telegram sandbox is answered; Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sandbox.sentry import SentrySandboxClient
from sandbox.telegram import TelegramSandboxClient
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_make_run_serves_the_bot_offline_and_stops_cleanly(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}  # so the embedded Redis starts
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}", "PYTHONUNBUFFERED": "1"}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "scripts.run_local", "--state-dir", str(tmp_path / "state"), "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(launcher.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
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
        assert "Redis (embedded)" in banner and "Flower" in banner

        with TelegramSandboxClient(telegram_url) as telegram:
            telegram.send_message(1001, 1001, "/start")
            reply = telegram.wait_for_bot_messages(1001, count=1, timeout_s=30)[0]
        assert "/help" in reply["text"]

        # The bot's command transaction reached the Sentry sandbox over real HTTP.
        with SentrySandboxClient(sentry_url) as sentry:
            sentry.wait_for_events(
                lambda e: e["payload"].get("transaction") == "/start", type="transaction", timeout_s=30
            )
    finally:
        launcher.send_signal(signal.SIGINT)
        code = launcher.wait(timeout=60)
        reader.join(timeout=5)
        launcher.stdout.close()  # type: ignore[union-attr]
    assert code == 0, "".join(output)
    assert "stopping worker" in "".join(output)
