"""Celery benchmark: enqueue latency from the bot's event loop, and worker throughput with Sentry off and on.

1. Enqueue latency. ``bot.queue.enqueue`` (``apply_async`` in ``asyncio.to_thread`` under ``wait_for``), awaited
   one call after another from a running event loop as handlers do, against the same ``apply_async`` called in
   a plain loop (the baseline), and the bare ``to_thread`` hop with nothing in it. The three are interleaved in
   blocks so that a noisy neighbour hits all of them alike. Redis commands per call are counted as well,
   because round trips to Redis are what an enqueue consists of.
2. Worker throughput. A real ``celery -A bench.celery_tasks worker -P solo`` drains N pre-enqueued no-op
   tasks; runs alternate Sentry off / on (the production ``init_sentry`` in ``celeryd_init``, DSN pointing at a
   local Sentry sandbox started here, traces 0.1) and the medians are compared.

The machine is shared and noisy: read the ratios, not the absolute times. ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

DEFAULTS = {"enqueue_calls": 5000, "tasks": 3000, "repeats": 3}
QUICK = {"enqueue_calls": 300, "tasks": 200, "repeats": 1}
MINIMUMS = {"enqueue_calls": 100, "tasks": 10, "repeats": 1}  # p99 needs at least 100 samples
MAXIMUMS = {"enqueue_calls": 1_000_000, "tasks": 1_000_000, "repeats": 50}
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"  # not the app's /0 nor the tests' /15

TRACES_SAMPLE_RATE = 0.1
WARMUP_CALLS = 50  # connections, queue declaration and the executor's first thread are set up here
LATENCY_BLOCKS = 10
COUNTED_CALLS = 20
WORKER_START_TIMEOUT_S = 60.0
WORKER_STOP_TIMEOUT_S = 30.0
MIN_DRAIN_RATE = 20.0  # tasks/s; below this something is broken, so give up rather than wait for ever
QUEUE = "default"  # where bench.noop is routed (no entry in TASK_ROUTES)


@dataclass(frozen=True)
class Config:
    enqueue_calls: int
    tasks: int
    repeats: int
    redis_url: str
    key_prefix: str


# --- arguments -----------------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_celery",
        description="Celery enqueue latency (bot path vs plain apply_async) and worker throughput "
        "(Sentry off vs on), against real Redis. Prints tables; compare ratios, not absolute times.",
    )
    parser.add_argument(
        "--enqueue-calls",
        type=int,
        metavar="N",
        help=f"enqueue calls per path (default {DEFAULTS['enqueue_calls']})",
    )
    parser.add_argument(
        "--tasks", type=int, metavar="N", help=f"no-op tasks per worker run (default {DEFAULTS['tasks']})"
    )
    parser.add_argument(
        "--repeats", type=int, metavar="K", help=f"worker runs per Sentry setting (default {DEFAULTS['repeats']})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke-run sizes ({', '.join(f'{k}={v}' for k, v in QUICK.items())}); explicit options still win",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL,
        help="Redis for the broker and results; every key gets a per-run prefix and is deleted at the end "
        "(default: $BENCH_REDIS_URL or %(default)s)",
    )
    return parser


def parse_args(argv: list[str] | None) -> Config:
    parser = _build_parser()
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else DEFAULTS
    values: dict[str, int] = {}
    for name, default in sizes.items():
        value = getattr(args, name)
        value = default if value is None else value
        flag = "--" + name.replace("_", "-")
        if not MINIMUMS[name] <= value <= MAXIMUMS[name]:
            parser.error(f"{flag} must be between {MINIMUMS[name]} and {MAXIMUMS[name]}, got {value}")
        values[name] = value
    if urlsplit(args.redis_url).scheme not in {"redis", "rediss"}:
        parser.error(f"--redis-url must look like redis://host:port/db, got {args.redis_url!r}")
    return Config(
        **values,
        redis_url=args.redis_url,
        key_prefix=f"bench-celery-{os.getpid()}-{uuid.uuid4().hex[:6]}:",
    )


# --- helpers -------------------------------------------------------------------------------------------


def wait_for(probe: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.002) -> T:
    """Poll ``probe`` until it returns something truthy; raise TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)
    return value


@dataclass(frozen=True)
class Latency:
    p50: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, samples: list[float]) -> Latency:
        cuts = statistics.quantiles(samples, n=100, method="inclusive")
        return cls(p50=cuts[49], p99=cuts[98], mean=statistics.fmean(samples), max=max(samples))


def _command_name(name: object) -> str:
    return (name.decode() if isinstance(name, bytes) else str(name)).upper()


@contextlib.contextmanager
def counting_redis_commands() -> Iterator[Counter[str]]:
    """Count the Redis commands this process sends (pipelined ones included) while the block runs."""
    from redis.connection import AbstractConnection

    counts: Counter[str] = Counter()
    send_one, pack_many = AbstractConnection.send_command, AbstractConnection.pack_commands

    def send_command(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        counts[_command_name(args[0])] += 1
        send_one(self, *args, **kwargs)  # type: ignore[no-untyped-call]

    def pack_commands(self: AbstractConnection, commands: Any) -> Any:
        counts.update(_command_name(command[0]) for command in commands)
        return pack_many(self, commands)  # type: ignore[no-untyped-call]

    AbstractConnection.send_command = send_command  # type: ignore[method-assign]
    AbstractConnection.pack_commands = pack_commands  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AbstractConnection.send_command = send_one  # type: ignore[method-assign]
        AbstractConnection.pack_commands = pack_many  # type: ignore[method-assign]


def _count(reply: object) -> int:
    """An integer reply of the synchronous client (redis-py types it as possibly awaitable)."""
    return int(cast(int, reply))


def delete_keys(client: redis.Redis, prefix: str) -> int:
    """Delete every key under ``prefix`` (broker queues, bindings, results, reply queues)."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += _count(client.delete(*batch))
            batch.clear()
    if batch:
        deleted += _count(client.delete(*batch))
    return deleted


# --- 1. enqueue latency --------------------------------------------------------------------------------

SYNC = "apply_async, plain loop (baseline)"
BOT = "bot.queue.enqueue (to_thread hop)"
HOP = "to_thread hop alone, no apply_async"
PATHS = (SYNC, BOT, HOP)


def _nothing() -> None:
    """The body of the empty hop: only the thread hand-off and wait_for are left."""


async def _time_calls(path: str, task: Any, calls: int, into: list[float]) -> None:
    from bot.queue import ENQUEUE_TIMEOUT_S, enqueue

    clock = time.perf_counter
    for _ in range(calls):
        started = clock()
        if path == SYNC:
            # Exactly what enqueue() runs in its thread, without the hop: the difference is the hop's cost.
            task.s().apply_async(retry=False)
        elif path == BOT:
            await enqueue(task.s())
        else:
            await asyncio.wait_for(asyncio.to_thread(_nothing), ENQUEUE_TIMEOUT_S)
        into.append(clock() - started)


async def _measure_enqueue(task: Any, calls: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    for path in PATHS:
        await _time_calls(path, task, WARMUP_CALLS, [])
    blocks = min(LATENCY_BLOCKS, calls)
    for block in range(blocks):
        size = calls // blocks + (1 if block < calls % blocks else 0)
        # Rotate the order each block so no path always runs right after another one.
        order = PATHS[block % len(PATHS) :] + PATHS[: block % len(PATHS)]
        for path in order:
            await _time_calls(path, task, size, samples[path])
    return samples


def measure_enqueue(task: Any, calls: int) -> dict[str, Latency]:
    # One running loop for all three paths, as in the bot: the sync baseline simply never yields to it.
    samples = asyncio.run(_measure_enqueue(task, calls))
    return {path: Latency.of(values) for path, values in samples.items()}


def count_commands_per_enqueue(task: Any) -> dict[str, float]:
    async def calls() -> None:
        from bot.queue import enqueue

        for _ in range(COUNTED_CALLS):
            await enqueue(task.s())

    with counting_redis_commands() as counts:
        asyncio.run(calls())
    return {name: count / COUNTED_CALLS for name, count in counts.most_common()}


# --- 2. worker throughput ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    sentry: bool
    rate: float  # tasks/s
    worker_cpu_us: float | None  # worker CPU (user + system) per task while draining; None without /proc
    bench_cpu_share: float  # CPU of this process (poller, and the sandbox when on) per second of draining
    transactions: int | None  # received by the sandbox; None when Sentry is off


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
        return True

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()  # warm shutdown: finishes the current task, flushes Sentry (atexit)
        try:
            self.process.wait(WORKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(WORKER_STOP_TIMEOUT_S)


def _worker_env(config: Config, dsn: str | None) -> dict[str, str]:
    return {
        **os.environ,
        "BENCH_REDIS_URL": config.redis_url,
        "BENCH_CELERY_KEY_PREFIX": config.key_prefix,
        "REDIS_URL": config.redis_url,
        # Set even when off: the environment wins over a developer's .env, which might name a real Sentry.
        "SENTRY_DSN": dsn or "",
        "SENTRY_TRACES_SAMPLE_RATE": str(TRACES_SAMPLE_RATE),
        "SENTRY_ENVIRONMENT": "bench",
        "SENTRY_DEBUG": "false",
        "LOG_LEVEL": "INFO",
    }


@contextlib.contextmanager
def worker_process(config: Config, dsn: str | None, log_dir: Path) -> Iterator[WorkerProcess]:
    """A real `celery worker` on every production queue, logging at INFO as in docker-compose."""
    name = f"bench-{uuid.uuid4().hex[:8]}@%h"
    log_path = log_dir / f"worker-{name.split('@')[0]}.log"
    command = [sys.executable, "-m", "celery", "-A", "bench.celery_tasks", "worker", "-P", "solo", "-n", name]
    command += ["--without-mingle", "--without-gossip", "-l", "INFO"]
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches only this process, whose clean-up then stops the worker.
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_worker_env(config, dsn),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = WorkerProcess(process=process, log_path=log_path)
    try:
        yield worker
    finally:
        worker.stop()


def _fill_queue(task: Any, count: int) -> None:
    for _ in range(count):
        task.apply_async(retry=False)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of ``pid`` so far (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields 14 and 15 of stat(5) (utime, stime); the split above starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Drain:
    seconds: float
    worker_cpu_s: float | None
    bench_cpu_s: float


def _drain(client: redis.Redis, config: Config, worker: WorkerProcess) -> Drain:
    """Time (and CPU) from the worker's first fetch to the last ack."""
    queue, unacked = f"{config.key_prefix}{QUEUE}", f"{config.key_prefix}unacked"

    def started() -> bool:
        return worker.check_alive() and _count(client.llen(queue)) < config.tasks

    def drained() -> bool:
        # acks_late: a task leaves the unacked hash only once it has run.
        return worker.check_alive() and _count(client.llen(queue)) == 0 and _count(client.hlen(unacked)) == 0

    wait_for(started, WORKER_START_TIMEOUT_S, "the worker to fetch its first task")
    began, cpu_began, own_began = time.perf_counter(), _cpu_seconds(worker.process.pid), time.process_time()
    wait_for(drained, WORKER_START_TIMEOUT_S + config.tasks / MIN_DRAIN_RATE, f"{config.tasks} tasks to drain")
    seconds, cpu_ended = time.perf_counter() - began, _cpu_seconds(worker.process.pid)
    worker_cpu = None if cpu_began is None or cpu_ended is None else cpu_ended - cpu_began
    return Drain(seconds=seconds, worker_cpu_s=worker_cpu, bench_cpu_s=time.process_time() - own_began)


def measure_run(config: Config, task: Any, client: redis.Redis, sandbox: Any, log_dir: Path, *, sentry: bool) -> Run:
    if sentry:
        sandbox.client.reset()
    _fill_queue(task, config.tasks)
    with worker_process(config, sandbox.dsn if sentry else None, log_dir) as worker:
        drain = _drain(client, config, worker)
    # The worker has stopped (and flushed), so everything it sent has arrived.
    transactions = int(sandbox.client.stats()["items"].get("transaction", 0)) if sentry else None
    return Run(
        sentry=sentry,
        rate=config.tasks / drain.seconds,
        worker_cpu_us=None if drain.worker_cpu_s is None else drain.worker_cpu_s / config.tasks * 1e6,
        bench_cpu_share=drain.bench_cpu_s / drain.seconds,
        transactions=transactions,
    )


@dataclass
class Sandbox:
    dsn: str
    client: Any  # sandbox.sentry.SentrySandboxClient


@contextlib.contextmanager
def sentry_sandbox() -> Iterator[Sandbox]:
    from sandbox.sentry import SandboxOptions, SentrySandboxClient, build_app, make_dsn
    from sandbox.server import running

    options = SandboxOptions()
    with running(build_app(options)) as server, SentrySandboxClient(server.url) as client:
        yield Sandbox(dsn=make_dsn(server.url, options.project_id), client=client)


def measure_throughput(config: Config, task: Any, client: redis.Redis, log_dir: Path) -> list[Run]:
    runs = []
    with sentry_sandbox() as sandbox:
        for index in range(config.repeats * 2):
            sentry = index % 2 == 1  # off, on, off, on, ...: drift over time hits both alike
            print(f"  worker run {index + 1}/{config.repeats * 2}: Sentry {'on' if sentry else 'off'}...", flush=True)
            runs.append(measure_run(config, task, client, sandbox, log_dir, sentry=sentry))
    return runs


# --- output --------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f}"


def print_enqueue_table(config: Config, results: dict[str, Latency], commands: dict[str, float]) -> None:
    base = results[SYNC]
    print(f"\nCelery enqueue latency: {config.enqueue_calls} calls per path, milliseconds")
    print(f"{'path':<38}{'p50':>8}{'p99':>9}{'mean':>9}{'max':>9}{'p50 x':>8}{'p99 x':>8}{'mean x':>8}")
    for path, lat in results.items():
        ratios = f"{lat.p50 / base.p50:8.2f}{lat.p99 / base.p99:8.2f}{lat.mean / base.mean:8.2f}"
        print(f"{path:<38}{_ms(lat.p50)} {_ms(lat.p99)} {_ms(lat.mean)} {_ms(lat.max)}{ratios}")
    per_call = ", ".join(f"{name} {count:g}" for name, count in commands.items())
    print(f"Redis commands per enqueue ({sum(commands.values()):g}): {per_call}")


def _median_or_none(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _throughput_row(label: str, mine: list[Run], baseline: float, baseline_cpu: float | None) -> str:
    rate = statistics.median(run.rate for run in mine)
    cpu = _median_or_none([run.worker_cpu_us for run in mine])
    cpu_ratio = "n/a" if cpu is None or not baseline_cpu else f"{cpu / baseline_cpu:.2f}"
    rates = ", ".join(f"{run.rate:.0f}" for run in mine)
    sent = ", ".join(str(run.transactions) for run in mine) if mine[0].sentry else "-"
    bench_cpu = statistics.median(run.bench_cpu_share for run in mine)
    cpu_text = "n/a" if cpu is None else f"{cpu:.0f}"
    numbers = f"{rate:>8.0f}{rate / baseline:>7.2f}{cpu_text:>10}{cpu_ratio:>7}{bench_cpu:>8.0%}"
    return f"{label:<18}{rates:<22}{numbers}  {sent}"


def print_throughput_table(config: Config, runs: list[Run]) -> None:
    off = [run for run in runs if not run.sentry]
    on = [run for run in runs if run.sentry]
    baseline = statistics.median(run.rate for run in off)
    baseline_cpu = _median_or_none([run.worker_cpu_us for run in off])
    print(f"\nWorker throughput: {config.tasks} no-op tasks per run, -P solo, {config.repeats} run(s) each")
    columns = f"{'median':>8}{'ratio':>7}{'cpu us/t':>10}{'cpu x':>7}{'bench':>8}"
    print(f"{'sentry':<18}{'tasks/s per run':<22}{columns}  transactions/run")
    print(_throughput_row("off", off, baseline, baseline_cpu))
    print(_throughput_row(f"on (traces {TRACES_SAMPLE_RATE})", on, baseline, baseline_cpu))
    print(
        "cpu us/t: worker CPU per task while draining (median); bench: this process's CPU per second of "
        "draining (queue poller, plus the Sentry sandbox when on)"
    )


def print_environment(config: Config) -> None:
    packages = ", ".join(f"{name} {version(name)}" for name in ("celery", "kombu", "redis", "sentry-sdk"))
    print(
        f"Python {platform.python_version()}, {packages}; {os.cpu_count()} CPUs; "
        f"Redis {config.redis_url} (keys under {config.key_prefix!r})",
        flush=True,
    )


# --- main ----------------------------------------------------------------------------------------------


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks, which stop workers and delete keys


def _check_redis(client: redis.Redis, url: str) -> None:
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis is not reachable at {url} ({exc}); start it with `make services`") from None


def run(config: Config) -> None:
    # bench.celery_tasks reads these at import, and the worker processes inherit them.
    os.environ["BENCH_REDIS_URL"] = config.redis_url
    os.environ["BENCH_CELERY_KEY_PREFIX"] = config.key_prefix
    client = redis.Redis.from_url(config.redis_url)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(client.close)
        _check_redis(client, config.redis_url)
        cleanup.callback(delete_keys, client, config.key_prefix)
        from bench.celery_tasks import app, noop

        cleanup.callback(app.close)
        log_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-celery-")))
        print_environment(config)

        print("Measuring enqueue latency...", flush=True)
        latencies = measure_enqueue(noop, config.enqueue_calls)
        commands = count_commands_per_enqueue(noop)
        client.delete(f"{config.key_prefix}{QUEUE}")  # nobody consumed those; the worker runs start empty
        print_enqueue_table(config, latencies, commands)

        print("\nMeasuring worker throughput...", flush=True)
        runs = measure_throughput(config, noop, client, log_dir)
        print_throughput_table(config, runs)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        run(config)
    except KeyboardInterrupt:
        print("\ninterrupted; cleaned up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
