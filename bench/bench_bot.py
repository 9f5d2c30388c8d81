"""Bot update benchmark: ``python -m bench.bench_bot``.

The production PTB application (``tests.support.bot.running_bot``) polls a Telegram sandbox started here;
N users each send ``/start`` at once. Each scenario runs twice in the same session: with
``BOT_MAX_CONCURRENT_UPDATES=1`` (the baseline: one update at a time, as the bot was before issue #11) and
with 32 (the candidate, ``bot.updates.ChatOrderedUpdateProcessor``).

a. slow chat: one other chat is slow (every Bot API call for it waits ``--slow-s``, the sandbox's
   ``slow_chats``); its ``/start`` is in flight when the N users write.
b. flood limits: the sandbox refuses sends over 1/s per chat and 30/s overall, as Telegram does; the best
   any bot can do is N replies at 30/s, so p99 is also given relative to N/30 s.

Latency per user: from just before the user's message is posted to the sandbox's log entry of the bot's first
successful ``sendMessage`` to that chat (both ``time.time()`` on this machine). No sleeps: replies are awaited
with the sandbox's long polls. Read the ratios (candidate / baseline), not the absolute times. The exit status
is 0 when every user got a reply; the goals are printed, not enforced (the machine is shared).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "true")  # PTB 22 warns unless retry_after is a timedelta

from sandbox.server import running
from sandbox.telegram import DEFAULT_TOKEN, TelegramSandboxClient, TelegramSandboxSettings, build_app
from tests.support.bot import running_bot
from tests.support.settings import make_settings
from tests.support.waiting import wait_until

BASELINE, CANDIDATE = 1, 32  # BOT_MAX_CONCURRENT_UPDATES
DEFAULT_USERS = 100
DEFAULT_SLOW_S = 2.0
PER_CHAT_PER_S, GLOBAL_PER_S = 1, 30
FLOOD_GOAL = 1.5  # issue #11: p99 within 1.5x of what Telegram's limits allow
FIRST_USER = 9_200_000
SLOW_CHAT = 9_100_000
REPLY_TIMEOUT_S = 60.0
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14"  # /start never touches it


@dataclass(frozen=True)
class Run:
    scenario: str
    running: int
    latencies: list[float]
    slow_chat_s: float | None
    refused: int
    wall_s: float

    def percentile(self, q: float) -> float:
        """Nearest rank: the value at least q of the samples are at or below (p99 of 100 is the 99th)."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_bot", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="users sending /start (default %(default)s)")
    parser.add_argument(
        "--slow-s", type=float, default=DEFAULT_SLOW_S, help="the slow chat's delay per call (default %(default)s)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 1000:
        parser.error(f"--users must be between 1 and 1000, got {args.users}")
    if not 0.1 <= args.slow_s <= 30:
        parser.error(f"--slow-s must be between 0.1 and 30 seconds, got {args.slow_s}")
    return args


def first_replies(client: TelegramSandboxClient) -> dict[int, float]:
    """chat id -> when the sandbox answered the bot's first successful sendMessage there."""
    first: dict[int, float] = {}
    for call in client.requests(method="sendMessage"):
        if call["status"] == 200:
            first.setdefault(int(call["params"]["chat_id"]), call["time"])
    return first


def measure(
    url: str,
    client: TelegramSandboxClient,
    scenario: str,
    running_updates: int,
    users: list[int],
    setup: Callable[[], None],
    slow_s: float | None,
) -> Run:
    client.reset()
    setup()
    settings = make_settings(
        telegram_bot_token=DEFAULT_TOKEN,
        telegram_api_base_url=url,
        redis_url=REDIS_URL,
        bot_language="en",
        bot_max_concurrent_updates=running_updates,
    )
    sent: dict[int, float] = {}
    slow_sent = 0.0
    with running_bot(settings):
        if slow_s is not None:
            slow_sent = time.time()
            client.send_message(SLOW_CHAT, SLOW_CHAT, "/start")
            wait_until(lambda: client.config()["delayed_calls"] >= 1, 10, what="the slow chat's reply in flight")
        started = time.monotonic()
        for user in users:
            sent[user] = time.time()
            client.send_message(user, user, "/start")
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        for chat in users + ([SLOW_CHAT] if slow_s is not None else []):
            client.wait_for_bot_messages(chat, 1, timeout_s=max(0.1, deadline - time.monotonic()))
        wall_s = time.monotonic() - started
    replies = first_replies(client)
    return Run(
        scenario=scenario,
        running=running_updates,
        latencies=[replies[user] - sent[user] for user in users],
        slow_chat_s=None if slow_s is None else replies[SLOW_CHAT] - slow_sent,
        refused=int(client.flood_record()["total"]["refused"]),
        wall_s=wall_s,
    )


def print_table(runs: list[Run], users: int) -> None:
    allowed = users / GLOBAL_PER_S
    print(f"\nBot: first reply to /start, {users} users, seconds (ratio = candidate / baseline, same run)\n")
    print(
        "| scenario | BOT_MAX_CONCURRENT_UPDATES | p50 | p99 | max | p99 ratio | max ratio | p99 / allowed "
        "| slow chat's reply | 429s | wall |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base: dict[str, Run] = {}
    for run in runs:
        if run.running == BASELINE:
            base[run.scenario] = run
        ref = base[run.scenario]
        p99, top = run.percentile(0.99), max(run.latencies)
        ratios = "| – | – " if run is ref else f"| {p99 / ref.percentile(0.99):.3f} | {top / max(ref.latencies):.3f} "
        versus = f"{p99 / allowed:.2f}"
        slow = "–" if run.slow_chat_s is None else f"{run.slow_chat_s:.2f}"
        print(
            f"| {run.scenario} | {run.running} | {run.percentile(0.5):.3f} | {p99:.3f} | {top:.3f} {ratios}"
            f"| {versus} | {slow} | {run.refused} | {run.wall_s:.1f} |"
        )
    print(
        f"\nallowed: {users} replies at {GLOBAL_PER_S}/s = {allowed:.2f} s (Telegram's broadcast limit; the bot's own "
        f"AIORateLimiter paces at it in both scenarios)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    users = [FIRST_USER + n for n in range(args.users)]
    packages = ", ".join(f"{name} {version(name)}" for name in ("python-telegram-bot", "uvicorn", "httpx"))
    print(f"Python {platform.python_version()}, {packages}; {os.cpu_count()} CPUs", flush=True)

    with running(build_app(TelegramSandboxSettings())) as server, TelegramSandboxClient(server.url) as client:
        scenarios: list[tuple[str, Callable[[], Any], float | None]] = [
            (
                f"a. one slow chat ({args.slow_s:g} s a call)",
                lambda: client.set_slow_chats({SLOW_CHAT: args.slow_s}),
                args.slow_s,
            ),
            (
                f"b. flood limits {PER_CHAT_PER_S}/s per chat, {GLOBAL_PER_S}/s overall",
                lambda: client.set_flood_limits(per_chat_per_s=PER_CHAT_PER_S, global_per_s=GLOBAL_PER_S),
                None,
            ),
        ]
        runs = []
        for name, setup, slow_s in scenarios:
            for mode in (BASELINE, CANDIDATE):
                print(f"{name}, BOT_MAX_CONCURRENT_UPDATES={mode}…", file=sys.stderr, flush=True)
                runs.append(measure(server.url, client, name, mode, users, setup, slow_s))
        client.reset()

    print_table(runs, args.users)
    slow_run = runs[1]
    flood_run = runs[3]
    allowed = args.users / GLOBAL_PER_S
    print(
        f"goal (a), one slow chat holds up no one: candidate p99 {slow_run.percentile(0.99):.3f} s < "
        f"{args.slow_s:g} s: {'met' if slow_run.percentile(0.99) < args.slow_s else 'NOT met'}"
    )
    flood_ok = flood_run.percentile(0.99) <= FLOOD_GOAL * allowed
    print(
        f"goal (b), p99 within {FLOOD_GOAL}x of the limits: {flood_run.percentile(0.99) / allowed:.2f}x: "
        f"{'met' if flood_ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
