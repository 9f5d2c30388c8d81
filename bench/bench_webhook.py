"""Sentry webhook benchmark: ``python -m bench.bench_webhook [--quick]``.

The bot runs as in production (``python -m bot``, its own process: PTB polling the Telegram sandbox and the
webhook server in one event loop) and a real worker consumes the ``alerts`` queue. An open-loop load
generator posts signed tier-2 ``event_alert`` webhooks at a fixed rate (default 300 requests/s, each on its
schedule whether or not the previous one answered, so a slow receiver cannot slow the load down), which
keeps the worker busy counting them. Meanwhile, once a second, a tier-1 alert for a new issue is posted and
the time until its page is in the Telegram sandbox's chat is measured. Goals: receiver p99 < 50 ms, webhook
to page p99 < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from common.db.migrate import upgrade
from sandbox.server import free_port, running
from sandbox.telegram import DEFAULT_TOKEN, ChatSpec, TelegramSandboxClient, TelegramSandboxSettings, build_app
from tests.support import sentry_webhooks as hooks
from tests.support.settings import make_settings, settings_env
from tests.support.waiting import wait_until
from tests.support.workers import running_worker
from worker.app import create_app

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14"
SECRET = "bench-webhook-secret-0123456789"
ALERT_CHAT = 5001  # a private chat: Telegram's 1 message/s per chat, not a group's 20 a minute
GOAL_RECEIVER_P99_MS = 50.0
GOAL_PAGE_P99_S = 2.0


@dataclass
class Samples:
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    late_starts: int = 0  # sends that began more than 5 ms after their slot: the generator itself fell behind


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _request_bytes(port: int, n: int) -> bytes:
    payload = hooks.event_alert(
        issue_id=str(1_000_000 + n), title="RateLimitError: 429", exception_type="RateLimitError", rule="Rate limit"
    )
    body, headers = hooks.signed(SECRET, "event_alert", payload)
    head = ["POST /sentry-webhook HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def open_loop(port: int, rate: float, duration_s: float, start_at: float, first: int, step: int) -> Samples:
    """Send requests ``first, first+step, ...`` each at its slot ``start_at + n/rate`` (wall clock), over a pool
    of keep-alive connections; a new connection when all are busy (raw HTTP/1.1: the client must be cheap)."""
    samples = Samples()
    total = int(rate * duration_s)
    mine = range(first, total, step)
    requests = {n: _request_bytes(port, n) for n in mine}  # built and signed before the clock starts
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    loop = asyncio.get_running_loop()
    offset = loop.time() - time.time()

    async def one(n: int) -> None:
        slot = start_at + n / rate + offset
        await asyncio.sleep(max(0.0, slot - loop.time()))
        if loop.time() - slot > 0.005:
            samples.late_starts += 1
        began = time.perf_counter()
        try:
            connection = idle.pop() if idle else await asyncio.open_connection("127.0.0.1", port)
            status = await _exchange(*connection, requests[n])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            samples.errors += 1
            return
        samples.latencies_s.append(time.perf_counter() - began)
        samples.statuses[status] = samples.statuses.get(status, 0) + 1
        idle.append(connection)

    await asyncio.gather(*(one(n) for n in mine))
    for _, writer in idle:
        writer.close()
    return samples


def _load_process(args: tuple[int, float, float, float, int, int]) -> Samples:
    return asyncio.run(open_loop(*args))


def generate_load(port: int, rate: float, duration_s: float, processes: int = 2) -> Samples:
    """The open-loop load from ``processes`` processes sharing one schedule (one Python loop tops out early)."""
    start_at = time.time() + 6.0  # spawned processes import and sign their requests first
    jobs = [(port, rate, duration_s, start_at, index, processes) for index in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_load_process, jobs)
    merged = Samples()
    for part in parts:
        merged.latencies_s += part.latencies_s
        merged.errors += part.errors
        merged.late_starts += part.late_starts
        for status, count in part.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
    return merged


def page_probes(url: str, telegram: TelegramSandboxClient, stop: threading.Event, out: list[float]) -> None:
    """Once a second: a tier-1 alert for a new issue, and the time until its page is in the chat."""
    n = 0
    while not stop.is_set():
        n += 1
        body, headers = hooks.signed(
            SECRET, "event_alert", hooks.event_alert(issue_id=str(9_000_000 + n), level="fatal", rule="Bot crashed")
        )
        began = time.perf_counter()
        answer = httpx.post(url, content=body, headers=headers, timeout=5)
        if answer.status_code == 202:
            telegram.wait_for_bot_messages(ALERT_CHAT, n, timeout_s=30)
            out.append(time.perf_counter() - began)
        stop.wait(max(0.0, 1.1 - (time.perf_counter() - began)))


@contextmanager
def bot_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def cpu_per_request_us(count: int = 2000) -> float:
    """The receiver's own CPU work per request (HMAC over the raw body, strict parse, normalize), no I/O."""
    import hashlib
    import hmac

    from common.sentry_webhooks import normalize, parse_body

    deliveries = [hooks.signed(SECRET, "event_alert", hooks.event_alert(issue_id=str(n + 1))) for n in range(count)]
    began = time.process_time()
    for body, headers in deliveries:
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, headers["Sentry-Hook-Signature"])
        normalize("event_alert", parse_body(body), headers["Request-ID"], time.time())
    return (time.process_time() - began) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_webhook", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seconds at 100 requests/s (a smoke run)")
    parser.add_argument("--rate", type=float, default=300.0, help="webhooks per second (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=15.0, help="load duration (default %(default)s)")
    args = parser.parse_args(argv)
    rate, seconds = (100.0, 3.0) if args.quick else (args.rate, args.seconds)
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()  # the benchmark's own database (BENCH_REDIS_URL): queues and counters start empty
    work = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    database_url = f"sqlite:///{work / 'bench.sqlite3'}"
    upgrade(database_url)
    chats = (ChatSpec(ALERT_CHAT, "private"),)
    with running(build_app(TelegramSandboxSettings(chats=chats))) as sandbox, TelegramSandboxClient(sandbox.url) as tg:
        port = free_port()
        settings = make_settings(
            redis_url=REDIS_URL,
            database_url=database_url,
            sentry_webhook_secret=SECRET,
            telegram_bot_token=DEFAULT_TOKEN,
            telegram_api_base_url=sandbox.url,
            alert_chat_id=ALERT_CHAT,
            bot_webhook_port=port,
            log_level="WARNING",
        )
        env = {**os.environ, **settings_env(settings), "ENV_FILE": str(work / "empty.env"), "PTB_TIMEDELTA": "true"}
        (work / "empty.env").write_text("")
        app = create_app(settings)
        url = f"http://127.0.0.1:{port}/sentry-webhook"
        with (
            bot_process(env, work / "bot.log"),
            running_worker(app, "worker", env=env, log_path=work / "worker.log", queues=["alerts"], concurrency=2),
        ):
            wait_until(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), timeout_s=30, what="the bot")
            # Warm-up: connections, the producer's script load, the worker's first page.
            body, headers = hooks.signed(SECRET, "event_alert", hooks.event_alert(issue_id="1", level="fatal"))
            assert httpx.post(url, content=body, headers=headers, timeout=5).status_code == 202
            tg.wait_for_bot_messages(ALERT_CHAT, 1, timeout_s=30)
            tg.reset()
            tg.register_chat(ALERT_CHAT, chat_type="private", first_name="Bench")

            pages: list[float] = []
            stop = threading.Event()
            prober = threading.Thread(target=page_probes, args=(url, tg, stop, pages), daemon=True)
            prober.start()
            samples = generate_load(port, rate, seconds)
            stop.set()
            prober.join(40)
            counted = int(client.zcard("alerts:window:rate_limit"))  # type: ignore[arg-type]
            queued = int(client.llen("alerts"))  # type: ignore[arg-type]  # sync client: an int
        app.close()
    client.close()
    report(rate, seconds, samples, pages, counted, queued)
    print(f"\nReceiver CPU per request (verify + parse + normalize, no I/O): {cpu_per_request_us():.0f} µs")
    print(f"Load average during the run (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


def report(rate: float, seconds: float, samples: Samples, pages: list[float], counted: int, queued: int) -> None:
    ms = [s * 1000 for s in samples.latencies_s]
    print(f"\nSentry webhook receiver: {len(ms)} signed event_alert POSTs at {rate:g}/s for {seconds:g}s (open loop)")
    if ms:
        p50, p99 = percentile(ms, 0.50), percentile(ms, 0.99)
        print(f"  latency ms: p50 {p50:.1f}  p90 {percentile(ms, 0.90):.1f}  p99 {p99:.1f}  max {max(ms):.1f}")
        statuses = dict(sorted(samples.statuses.items()))
        print(f"  mean {statistics.fmean(ms):.1f} ms; statuses {statuses}; errors {samples.errors}")
        verdict = "met" if p99 < GOAL_RECEIVER_P99_MS else "NOT met"
        print(f"  goal: receiver p99 < {GOAL_RECEIVER_P99_MS:g} ms: {verdict}")
    print(f"  generator slots started > 5 ms late: {samples.late_starts}")
    print(f"  worker: {counted} tier-2 alerts counted by the end of the load, {queued} still queued")
    print(f"\nWebhook to Telegram page (tier 1, one a second during the load): {len(pages)} pages")
    if pages:
        p50, p99 = percentile(pages, 0.50), percentile(pages, 0.99)
        print(f"  seconds: p50 {p50:.3f}  p99 {p99:.3f}  max {max(pages):.3f}")
        print(f"  goal: page p99 < {GOAL_PAGE_P99_S:g} s: {'met' if p99 < GOAL_PAGE_P99_S else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
