"""Celery benchmark: enqueue latency from the bot's event loop, and worker throughput with and without Sentry.

1. Enqueue latency. The bot's ``Producer.send`` (bot/producer.py: fire-and-forget, no result backend), awaited
   one call after another from a running event loop as handlers do, against the path it replaced (the
   baseline, rebuilt here: ``apply_async`` on the production app with its Redis result backend, in
   ``asyncio.to_thread`` under ``wait_for``), and the bare ``to_thread`` hop with nothing in it. The three are
   interleaved in blocks so that a noisy neighbour hits all of them alike. Redis commands and round trips per
   enqueue are counted on a private redis-server (MONITOR for the commands Redis ran, redis-py's socket writes
   and reads for the round trips), because round trips to Redis are what an enqueue consists of.
2. Worker throughput. A real ``celery -A bench.celery_tasks worker -P solo`` drains N pre-enqueued no-op tasks.
   Runs are interleaved: Sentry off; bare sentry-sdk with only its Celery integration; ours (the production
   ``init_sentry``). Both Sentry settings send to a local Sentry sandbox started here, traces 0.1. Reported:
   tasks/s, worker CPU per task, and Sentry's per-task cost (CPU above the Sentry-off runs), ours against bare.

The machine is shared and noisy: read the ratios, not the absolute times. ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import platform
import pstats
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, cast
from unittest import mock
from urllib.parse import urlsplit

import redis
import redis.asyncio

from bot.producer import ENQUEUE_TIMEOUT_S, Producer, QueueUnavailable
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess, running_worker

if TYPE_CHECKING:
    from common.contract import TaskCall
    from common.settings import Settings

DEFAULTS = {"enqueue_calls": 5000, "tasks": 3000, "repeats": 5}
QUICK = {"enqueue_calls": 300, "tasks": 200, "repeats": 1}
MINIMUMS = {"enqueue_calls": 100, "tasks": 10, "repeats": 1}  # p99 needs at least 100 samples
MAXIMUMS = {"enqueue_calls": 1_000_000, "tasks": 1_000_000, "repeats": 50}
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"  # not the app's /0 nor the tests' /15

TRACES_SAMPLE_RATE = 0.1
WARMUP_CALLS = 50  # connections, queue declaration, the script load and the executor's first thread
LATENCY_BLOCKS = 10
COUNTED_CALLS = 20
MARKER_GAP_S = 0.05
WORKER_START_TIMEOUT_S = 60.0
MIN_DRAIN_RATE = 20.0  # tasks/s; below this something is broken, so give up rather than wait for ever
POLL_INTERVAL_S = 0.002
SENTRY_OVERHEAD_GOAL = 1.2  # ours / bare, per-task cost above Sentry off
# Two run sizes: their difference in calls over their difference in tasks is the per-task count, without the
# start-up and shutdown every run pays once.
CALL_SIZES = (200, 1200)


@dataclass(frozen=True)
class Config:
    enqueue_calls: int
    tasks: int
    repeats: int
    redis_url: str
    key_prefix: str
    calls: bool = False


# --- arguments -----------------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_celery",
        description="Celery enqueue latency (the bot's producer vs the apply_async path it replaced) and worker "
        "throughput (Sentry off, bare sentry-sdk, ours), against real Redis. Prints tables; compare ratios, "
        "not absolute times.",
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
        "--calls",
        action="store_true",
        help="instead of the timings: count the worker's Python function calls per task under cProfile, Sentry "
        f"off/bare/ours, from runs of {CALL_SIZES[0]} and {CALL_SIZES[1]} tasks (independent of the machine's load)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL,
        help="Redis for the broker and results; every key gets a per-run prefix and is deleted at the end "
        "(default: $BENCH_REDIS_URL or %(default)s). Commands are counted on a private redis-server instead.",
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
        calls=args.calls,
    )


# --- helpers -------------------------------------------------------------------------------------------


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


def _empty_env_file(directory: Path) -> str:
    """An empty file for ENV_FILE: neither this process nor its workers read a developer's .env."""
    path = directory / "empty.env"
    path.write_text("")
    return str(path)


# --- 1. enqueue latency --------------------------------------------------------------------------------

BASELINE = "previous: apply_async in to_thread (baseline)"
PRODUCER = "bot.producer.Producer.send"
HOP = "to_thread hop alone"
PATHS = (BASELINE, PRODUCER, HOP)


async def previous_enqueue(task: Any, timeout_s: float) -> str:
    """The bot's enqueue before bot/producer.py (bot/queue.py, rebuilt): ``apply_async`` on the production app.

    That app has the production Redis result backend, so every send also SUBSCRIBEs to the task's result
    channel, and the ``AsyncResult`` unsubscribes when it is collected. ``retry=False`` as the bot had it.
    """
    result = await asyncio.wait_for(asyncio.to_thread(task.s().apply_async, retry=False), timeout_s)
    return str(result.id)


def _nothing() -> None:
    """The body of the empty hop: only the thread hand-off and wait_for are left."""


@dataclass
class Enqueuers:
    """One way of sending per path, sharing this process's event loop as the bot's handlers do."""

    task: Any  # bench.celery_tasks.noop (or its twin) on an app with the production configuration
    producer: Producer
    call: TaskCall  # the same no-op task, as the contract's call the producer sends
    timeout_s: float = ENQUEUE_TIMEOUT_S
    refused: Counter[str] = field(default_factory=Counter)

    async def send(self, path: str) -> None:
        if path == BASELINE:
            await previous_enqueue(self.task, self.timeout_s)
        elif path == PRODUCER:
            try:
                await self.producer.send(self.call)
            except QueueUnavailable:  # a send that missed its deadline on a loaded machine: counted, shown
                self.refused[path] += 1
        else:
            await asyncio.wait_for(asyncio.to_thread(_nothing), self.timeout_s)


@contextlib.asynccontextmanager
async def open_enqueuers(task: Any, settings: Settings, key_prefix: str | None) -> AsyncIterator[Enqueuers]:
    """The producer as the bot builds it (inside the running loop: its asyncio client belongs to it)."""
    from bench.celery_tasks import NoopCall

    client = redis.asyncio.Redis.from_url(settings.redis_url)
    producer = Producer(settings, client, key_prefix=key_prefix)
    try:
        yield Enqueuers(task=task, producer=producer, call=NoopCall())
    finally:
        producer.close()
        await client.aclose()


async def _time_calls(enqueuers: Enqueuers, path: str, calls: int, into: list[float]) -> None:
    clock = time.perf_counter
    for _ in range(calls):
        started = clock()
        await enqueuers.send(path)
        into.append(clock() - started)


async def _measure_enqueue(enqueuers: Enqueuers, calls: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    for path in PATHS:
        await _time_calls(enqueuers, path, WARMUP_CALLS, [])
    blocks = min(LATENCY_BLOCKS, calls)
    for block in range(blocks):
        size = calls // blocks + (1 if block < calls % blocks else 0)
        # Rotate the order each block so no path always runs right after another one.
        order = PATHS[block % len(PATHS) :] + PATHS[: block % len(PATHS)]
        for path in order:
            await _time_calls(enqueuers, path, size, samples[path])
    return samples


def measure_enqueue(
    task: Any, settings: Settings, key_prefix: str, calls: int
) -> tuple[dict[str, Latency], Counter[str]]:
    async def main() -> tuple[dict[str, list[float]], Counter[str]]:
        # One running loop for all three paths, as in the bot.
        async with open_enqueuers(task, settings, key_prefix) as enqueuers:
            return await _measure_enqueue(enqueuers, calls), enqueuers.refused

    samples, refused = asyncio.run(main())
    return {path: Latency.of(values) for path, values in samples.items()}, refused


# --- Redis commands and round trips per enqueue ---------------------------------------------------------


@dataclass
class Traffic:
    """What one path sent to Redis over COUNTED_CALLS enqueues."""

    commands: Counter[str] = field(default_factory=Counter)  # as Redis ran them (MONITOR), scripts as one
    writes: int = 0  # socket writes by redis-py (a pipeline is one)
    round_trips: int = 0  # writes the sender then waited on for the answer

    def per_call(self, value: float) -> float:
        return value / COUNTED_CALLS


class _RoundTrips:
    """Counts redis-py's socket writes, and those a read followed: a write nobody waits on is not a round trip."""

    def __init__(self) -> None:
        self.writes = 0
        self.round_trips = 0
        self._awaiting: set[int] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator[_RoundTrips]:
        from redis.connection import AbstractConnection

        # redis-py leaves these two unannotated; these are the signatures they have.
        send: Callable[..., None] = AbstractConnection.send_packed_command
        read: Callable[..., Any] = AbstractConnection.read_response
        counter = self

        def send_packed_command(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
            send(self, command, check_health)
            with counter._lock:
                counter.writes += 1
                counter._awaiting.add(id(self))

        def read_response(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
            with counter._lock:
                if id(self) in counter._awaiting:
                    counter._awaiting.discard(id(self))
                    counter.round_trips += 1
            return read(self, *args, **kwargs)

        with (
            mock.patch.object(AbstractConnection, "send_packed_command", send_packed_command),
            mock.patch.object(AbstractConnection, "read_response", read_response),
        ):
            yield self

    def take(self) -> tuple[int, int]:
        with self._lock:
            taken = self.writes, self.round_trips
            self.writes = self.round_trips = 0
            self._awaiting.clear()
            return taken


class _Monitor:
    """Redis's MONITOR stream, cut into sections by ECHO markers sent on a connection of its own."""

    MARK = "bench-section:"
    STOP = "bench-stop"

    def __init__(self, url: str) -> None:
        self._url = url
        self.sections: dict[str, Counter[str]] = {}
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="redis-monitor", daemon=True)
        self._marker = redis.Redis.from_url(url)

    def _watch(self) -> None:
        client = redis.Redis.from_url(self._url)
        current: Counter[str] | None = None
        monitor: Callable[[], Any] = client.monitor  # unannotated in redis-py; returns a redis.client.Monitor
        with monitor() as listening:
            self._ready.set()
            for entry in listening.listen():
                command = str(entry["command"])
                if command.startswith("ECHO"):
                    if self.STOP in command:
                        break
                    if self.MARK in command:
                        name = command.split(self.MARK, 1)[1].strip().strip("'\"")
                        current = self.sections.setdefault(name, Counter())
                        continue
                if current is not None and entry.get("client_type") != "lua":  # a script's own commands
                    current[command.split(" ", 1)[0].upper()] += 1
        client.close()

    def __enter__(self) -> _Monitor:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("MONITOR did not start")
        return self

    def section(self, name: str) -> None:
        self._marker.echo(f"{self.MARK}{name}")

    def __exit__(self, *_: object) -> None:
        self._marker.echo(self.STOP)
        self._thread.join(10)
        self._marker.close()


async def _settle() -> None:
    """Let the last send's leftovers reach Redis before a marker does.

    The baseline's UNSUBSCRIBE goes out (unanswered) when its AsyncResult is collected, on a connection of its
    own; Redis serves connections in the order they become readable, so a marker sent right after it on
    another connection could overtake it.
    """
    await asyncio.to_thread(_nothing)  # the executor's thread lets go of the last result
    await asyncio.sleep(MARKER_GAP_S)


def count_traffic(work_dir: Path) -> dict[str, Traffic]:
    """Commands and round trips per enqueue for the producer and the baseline, on a private redis-server."""
    from bench.celery_tasks import NOOP_NAME, noop_body
    from tests.support.redis_server import private_redis
    from tests.support.settings import make_settings
    from worker.app import WorkerApp

    traffic = {path: Traffic() for path in (BASELINE, PRODUCER)}
    with private_redis(work_dir) as server:
        settings = make_settings(redis_url=server.url(), sentry_environment="bench")
        # The production configuration on this server (no key prefix needed: nobody else uses it).
        app = WorkerApp(settings, set_as_current=False)
        task = app.task(name=NOOP_NAME)(noop_body)
        rounds = _RoundTrips()

        async def main() -> None:
            async with open_enqueuers(task, settings, None) as enqueuers:
                for path in traffic:
                    await _time_calls(enqueuers, path, WARMUP_CALLS, [])  # connect, declare, load the script
                    await _settle()
                    monitor.section(path)
                    rounds.take()
                    await _time_calls(enqueuers, path, COUNTED_CALLS, [])
                    await _settle()
                    traffic[path].writes, traffic[path].round_trips = rounds.take()
                    monitor.section(f"after {path}")

        with _Monitor(server.url()) as monitor, rounds.installed():
            asyncio.run(main())
        app.close()
    for path, counts in traffic.items():
        counts.commands = monitor.sections.get(path, Counter())
    return traffic


# --- 2. worker throughput ------------------------------------------------------------------------------

OFF = "off"
BARE = "bare sdk, Celery integration only"
OURS = "ours (init_sentry)"
MODES = (OFF, BARE, OURS)


@dataclass(frozen=True)
class Run:
    mode: str
    round: int  # runs of one round (one of each mode) ran back to back
    rate: float  # tasks/s
    worker_cpu_us: float | None  # worker CPU (user + system) per task while draining; None without /proc
    bench_cpu_share: float  # CPU of this process (poller, and the sandbox) per second of draining
    transactions: int | None  # received by the sandbox; None when Sentry is off


def _hermetic_environ() -> dict[str, str]:
    """This process's environment without any of the project's settings (a shell's SENTRY_DSN, say)."""
    from common.settings import Settings

    names = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in os.environ.items() if key.upper() not in names}


def worker_env(config: Config, mode: str, dsn: str, env_file: str, database_url: str) -> dict[str, str]:
    from bench.celery_tasks import BARE_DSN_VARIABLE
    from tests.support.settings import make_settings, settings_env

    settings = make_settings(
        redis_url=config.redis_url,
        database_url=database_url,
        sentry_dsn=dsn if mode == OURS else None,
        sentry_environment="bench",
        sentry_traces_sample_rate=TRACES_SAMPLE_RATE,
        log_level="INFO",
    )
    env = {
        **_hermetic_environ(),
        **settings_env(settings),
        "ENV_FILE": env_file,
        "BENCH_REDIS_URL": config.redis_url,
        "BENCH_CELERY_KEY_PREFIX": config.key_prefix,
    }
    if mode == BARE:
        env[BARE_DSN_VARIABLE] = dsn
    return env


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


def _drain(client: redis.Redis, config: Config, app: Any, worker: WorkerProcess) -> Drain:
    """Let the idle worker consume the filled queue; time (and CPU) from its first fetch to the last ack."""
    from bench.celery_tasks import NOOP_QUEUE

    queue, unacked = f"{config.key_prefix}{NOOP_QUEUE}", f"{config.key_prefix}unacked"

    def alive() -> bool:
        if not worker.alive():
            raise RuntimeError(f"worker exited with {worker.process.returncode}:\n{worker.log_tail()}")
        return True

    def started() -> bool:
        return alive() and _count(client.llen(queue)) < config.tasks

    def drained() -> bool:
        # acks_late: a task leaves the unacked hash only once it has run.
        return alive() and _count(client.llen(queue)) == 0 and _count(client.hlen(unacked)) == 0

    # The worker answered ping on the other queues with the tasks already waiting: from here on, the work it
    # does is the draining (its start-up, imports and Sentry's init are behind it).
    app.control.add_consumer(NOOP_QUEUE, destination=[worker.name], reply=True, timeout=10)
    wait_until(started, timeout_s=WORKER_START_TIMEOUT_S, interval_s=POLL_INTERVAL_S, what="the first fetch")
    began, cpu_began, own_began = time.perf_counter(), _cpu_seconds(worker.process.pid), time.process_time()
    limit_s = WORKER_START_TIMEOUT_S + config.tasks / MIN_DRAIN_RATE
    wait_until(drained, timeout_s=limit_s, interval_s=POLL_INTERVAL_S, what=f"{config.tasks} tasks to drain")
    seconds, cpu_ended = time.perf_counter() - began, _cpu_seconds(worker.process.pid)
    worker_cpu = None if cpu_began is None or cpu_ended is None else cpu_ended - cpu_began
    return Drain(seconds=seconds, worker_cpu_s=worker_cpu, bench_cpu_s=time.process_time() - own_began)


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


@dataclass(frozen=True)
class Throughput:
    """What a worker run needs from the benchmark process."""

    config: Config
    app: Any
    task: Any
    client: redis.Redis
    sandbox: Sandbox
    work_dir: Path
    env_file: str


def measure_run(setup: Throughput, mode: str, round_number: int, index: int, profile: Path | None = None) -> Run:
    from bench.celery_tasks import NOOP_QUEUE
    from common.contract import QUEUES

    config = setup.config
    if mode != OFF:
        setup.sandbox.client.reset()
    _fill_queue(setup.task, config.tasks)
    env = worker_env(config, mode, setup.sandbox.dsn, setup.env_file, f"sqlite:///{setup.work_dir / 'bench.sqlite3'}")
    with running_worker(
        setup.app,
        "bench.celery_tasks",
        env=env,
        log_path=setup.work_dir / f"worker-{index}.log",
        pool="solo",
        # Every production queue but the filled one until the worker is up; then that one too (see _drain).
        queues=[queue for queue in QUEUES if queue != NOOP_QUEUE],
        name_prefix="bench",
        own_session=True,  # Ctrl-C reaches only this process, whose clean-up then stops the worker
        start_timeout_s=WORKER_START_TIMEOUT_S,
        interpreter_args=() if profile is None else ("-m", "cProfile", "-o", str(profile)),
    ) as worker:
        drain = _drain(setup.client, config, setup.app, worker)
    # The worker has stopped (and flushed), so everything it sent has arrived.
    transactions = None if mode == OFF else int(setup.sandbox.client.stats()["items"].get("transaction", 0))
    return Run(
        mode=mode,
        round=round_number,
        rate=config.tasks / drain.seconds,
        worker_cpu_us=None if drain.worker_cpu_s is None else drain.worker_cpu_s / config.tasks * 1e6,
        bench_cpu_share=drain.bench_cpu_s / drain.seconds,
        transactions=transactions,
    )


def measure_throughput(setup: Throughput) -> list[Run]:
    runs: list[Run] = []
    total = setup.config.repeats * len(MODES)
    for repeat in range(setup.config.repeats):
        # Rotate the order each round, so drift over time and "runs right after X" hit every mode alike.
        order = MODES[repeat % len(MODES) :] + MODES[: repeat % len(MODES)]
        for mode in order:
            print(f"  worker run {len(runs) + 1}/{total}: Sentry {mode}...", flush=True)
            runs.append(measure_run(setup, mode, repeat, len(runs)))
    return runs


def measure_calls(setup: Throughput) -> dict[str, float]:
    """Python function calls per task of each mode's worker (main thread, cProfile): load does not change them."""
    per_task: dict[str, float] = {}
    for mode in MODES:
        totals: list[int] = []
        for size in CALL_SIZES:
            print(f"  profiled worker: Sentry {mode}, {size} tasks...", flush=True)
            sized = dataclasses.replace(setup, config=dataclasses.replace(setup.config, tasks=size))
            profile = setup.work_dir / f"calls-{len(per_task)}-{size}.prof"
            measure_run(sized, mode, 0, len(per_task) * len(CALL_SIZES) + len(totals), profile=profile)
            # A warm shutdown ends the worker normally, and cProfile writes the file then.
            totals.append(pstats.Stats(str(profile)).total_calls)  # type: ignore[attr-defined]
        per_task[mode] = (totals[1] - totals[0]) / (CALL_SIZES[1] - CALL_SIZES[0])
    return per_task


def print_calls_table(per_task: dict[str, float]) -> None:
    off, bare, ours = (per_task[mode] for mode in MODES)
    print(f"\nWorker function calls per no-op task (cProfile, main thread; runs of {CALL_SIZES} tasks, -P solo)")
    rows = [["sentry", "calls/task", "above off", "x bare's"]]
    for mode in MODES:
        above = per_task[mode] - off
        rows.append([mode, f"{per_task[mode]:.0f}", f"{above:+.0f}", _text(_ratio(above, bare - off))])
    print_table(rows)
    ratio = _ratio(ours - off, bare - off)
    verdict = "n/a" if ratio is None else "met" if ratio <= SENTRY_OVERHEAD_GOAL else "NOT met"
    print(f"ours / bare, calls per task above off: {_text(ratio)}; goal <= {SENTRY_OVERHEAD_GOAL}: {verdict}")


# --- output --------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f}"


def _traffic_line(path: str, counts: Traffic) -> str:
    commands = ", ".join(f"{name} {counts.per_call(n):g}" for name, n in sorted(counts.commands.items()))
    total = counts.per_call(sum(counts.commands.values()))
    one_way = counts.per_call(counts.writes - counts.round_trips)
    return f"  {path}: {total:g} commands ({commands}); {counts.per_call(counts.round_trips):g} round trips" + (
        f" + {one_way:g} writes nobody waits for" if one_way else ""
    )


def print_enqueue_table(
    config: Config, results: dict[str, Latency], refused: Counter[str], traffic: dict[str, Traffic]
) -> None:
    base = results[BASELINE]
    print(f"\nCelery enqueue latency: {config.enqueue_calls} calls per path, milliseconds")
    print(f"{'path':<46}{'p50':>8}{'p99':>9}{'mean':>9}{'max':>9}{'p50 x':>8}{'p99 x':>8}{'mean x':>8}")
    for path, lat in results.items():
        ratios = f"{lat.p50 / base.p50:8.2f}{lat.p99 / base.p99:8.2f}{lat.mean / base.mean:8.2f}"
        print(f"{path:<46}{_ms(lat.p50)} {_ms(lat.p99)} {_ms(lat.mean)} {_ms(lat.max)}{ratios}")
    if refused:
        print(f"refused (publish deadline missed): {dict(refused)}")
    print(f"Redis per enqueue ({COUNTED_CALLS} calls each, private redis-server; commands as MONITOR saw them):")
    for path, counts in traffic.items():
        print(_traffic_line(path, counts))
    producer = traffic[PRODUCER].per_call(traffic[PRODUCER].round_trips)
    print(f"goal: the producer is 2 round trips per enqueue: {'met' if producer == 2 else 'NOT met'} ({producer:g})")


def _median_or_none(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


@dataclass(frozen=True)
class Summary:
    mode: str
    runs: list[Run]
    rate: float
    cpu_us: float | None

    @classmethod
    def of(cls, mode: str, runs: list[Run]) -> Summary:
        mine = [run for run in runs if run.mode == mode]
        return cls(
            mode, mine, statistics.median(run.rate for run in mine), _median_or_none([r.worker_cpu_us for r in mine])
        )


def _throughput_row(summary: Summary, off: Summary) -> list[str]:
    rates = ", ".join(f"{run.rate:.0f}" for run in summary.runs)
    cpus = ", ".join(_text(run.worker_cpu_us, ".0f") for run in summary.runs)
    above = None if summary.cpu_us is None or off.cpu_us is None else summary.cpu_us - off.cpu_us
    bench_cpu = statistics.median(run.bench_cpu_share for run in summary.runs)
    sent = ", ".join(str(run.transactions) for run in summary.runs) if summary.mode != OFF else "-"
    return [
        summary.mode,
        rates,
        f"{summary.rate:.0f}",
        f"{summary.rate / off.rate:.2f}",
        cpus,
        _text(summary.cpu_us, ".0f"),
        _text(_ratio(summary.cpu_us, off.cpu_us)),
        _text(above, "+.0f"),
        f"{bench_cpu:.0%}",
        sent,
    ]


def print_table(rows: list[list[str]]) -> None:
    """Columns as wide as their widest cell; the first and the list-valued ones left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    left = {0} | {i for i in range(len(widths)) if any("," in row[i] for row in rows[1:])}
    for row in rows:
        cells = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _text(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _round_ratios(runs: list[Run]) -> list[float | None]:
    """ours / bare per-task CPU cost above off within each round: the three ran minutes apart at most."""
    ratios: list[float | None] = []
    for number in sorted({run.round for run in runs}):
        cpu = {run.mode: run.worker_cpu_us for run in runs if run.round == number}
        off, bare, ours = cpu.get(OFF), cpu.get(BARE), cpu.get(OURS)
        if off is None or bare is None or ours is None:
            ratios.append(None)
        else:
            ratios.append(_ratio(ours - off, bare - off))
    return ratios


def print_throughput_table(config: Config, runs: list[Run]) -> None:
    off, bare, ours = (Summary.of(mode, runs) for mode in MODES)
    print(
        f"\nWorker throughput: {config.tasks} no-op tasks per run, -P solo, {config.repeats} run(s) per setting, "
        f"interleaved; traces {TRACES_SAMPLE_RATE}"
    )
    header = ["sentry", "tasks/s per run", "median", "ratio", "cpu us/task per run", "median", "cpu x", "+us/t"]
    rows = [[*header, "bench", "transactions/run"]]
    rows += [_throughput_row(summary, off) for summary in (off, bare, ours)]
    print_table(rows)
    print(
        "cpu us/t: worker CPU per task while draining; +us/t: above Sentry off; bench: this process's CPU per "
        "second of draining (queue poller and the Sentry sandbox)"
    )

    def cpu_above_off(summary: Summary) -> float | None:
        return None if summary.cpu_us is None or off.cpu_us is None else summary.cpu_us - off.cpu_us

    def wall_above_off(summary: Summary) -> float:
        return 1e6 / summary.rate - 1e6 / off.rate

    bare_cost, ours_cost = cpu_above_off(bare), cpu_above_off(ours)
    cpu_ratio = _ratio(ours_cost, bare_cost)
    wall_ratio = _ratio(wall_above_off(ours), wall_above_off(bare))
    rounds = ", ".join(_text(ratio) for ratio in _round_ratios(runs))
    print(
        f"Sentry per-task cost (worker CPU above off, medians): bare {_text(bare_cost, '+.0f')} us, "
        f"ours {_text(ours_cost, '+.0f')} us"
    )
    verdict = "n/a" if cpu_ratio is None else "met" if cpu_ratio <= SENTRY_OVERHEAD_GOAL else "NOT met"
    print(
        f"ours / bare, per-task cost above off: CPU {_text(cpu_ratio)} (per round: {rounds}), "
        f"wall time {_text(wall_ratio)}; goal <= {SENTRY_OVERHEAD_GOAL} by CPU: {verdict}"
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


def _set_environ(values: Mapping[str, str]) -> None:
    # bench.celery_tasks reads these at import (this process's app is configured from them).
    os.environ.update(values)


def run(config: Config) -> None:
    client = redis.Redis.from_url(config.redis_url)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(client.close)
        _check_redis(client, config.redis_url)
        work_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-celery-")))
        env_file = _empty_env_file(work_dir)
        _set_environ(
            {"BENCH_REDIS_URL": config.redis_url, "BENCH_CELERY_KEY_PREFIX": config.key_prefix, "ENV_FILE": env_file}
        )
        cleanup.callback(delete_keys, client, config.key_prefix)
        from bench.celery_tasks import NOOP_QUEUE, app, noop

        cleanup.callback(app.close)
        print_environment(config)

        if config.calls:
            print("Counting the worker's function calls per task...", flush=True)
            with sentry_sandbox() as sandbox:
                per_task = measure_calls(Throughput(config, app, noop, client, sandbox, work_dir, env_file))
            print_calls_table(per_task)
            return

        print("Measuring enqueue latency...", flush=True)
        latencies, refused = measure_enqueue(noop, app.settings, config.key_prefix, config.enqueue_calls)
        print("Counting Redis commands per enqueue...", flush=True)
        traffic = count_traffic(work_dir)
        client.delete(f"{config.key_prefix}{NOOP_QUEUE}")  # nobody consumed those; the worker runs start empty
        print_enqueue_table(config, latencies, refused, traffic)

        print("\nMeasuring worker throughput...", flush=True)
        with sentry_sandbox() as sandbox:
            runs = measure_throughput(Throughput(config, app, noop, client, sandbox, work_dir, env_file))
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
