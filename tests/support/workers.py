"""Real `celery -A <module> worker` subprocesses for tests and benchmarks: start, wait for ping, stop, read the log.

The tests' ``worker_process`` fixture (tests/conftest.py) and the Celery benchmark (bench/bench_celery.py) both
start their workers here, so a worker under test and a worker under measurement are started the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
KILL_TIMEOUT_S = 5.0


class WorkerDidNotStart(RuntimeError):
    """The worker exited, or did not answer ping in time; the message ends with its log."""


@dataclass
class WorkerProcess:
    """One running worker: its node name (host resolved), the process, and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Warm shutdown (SIGTERM: the current task finishes, Sentry flushes); SIGKILL after ``timeout_s``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=KILL_TIMEOUT_S)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def worker_argv(
    module: str,
    name: str,
    *,
    pool: str = "prefork",
    concurrency: int = 1,
    queues: Sequence[str] | None = None,
    loglevel: str = "INFO",
    interpreter_args: Sequence[str] = (),
) -> list[str]:
    """The command line: one node without mingle and gossip (nothing else to meet), logging as in compose.

    ``interpreter_args`` go before ``-m celery`` (the benchmark runs a worker under ``-m cProfile -o FILE``).
    """
    argv = [sys.executable, *interpreter_args, "-m", "celery", "-A", module, "worker"]
    argv += ["-P", pool, "-c", str(concurrency), "-n", name]
    argv += ["--without-mingle", "--without-gossip", "-l", loglevel]
    if queues:
        argv += ["-Q", ",".join(queues)]
    return argv


def start_worker(
    app: Any,
    module: str,
    *,
    env: Mapping[str, str],
    log_path: Path,
    pool: str = "prefork",
    concurrency: int = 1,
    queues: Sequence[str] | None = None,
    name_prefix: str = "test",
    loglevel: str = "INFO",
    own_session: bool = False,
    start_timeout_s: float = START_TIMEOUT_S,
    interpreter_args: Sequence[str] = (),
) -> WorkerProcess:
    """Start a worker and return once it answers ``app``'s ping; the caller stops it (or use :func:`running_worker`).

    ``app`` is a Celery app on the same broker and key prefix as the worker (it sends the ping). With
    ``own_session`` the worker gets a session of its own, so a Ctrl-C meant for the caller does not reach it
    and the caller's clean-up stops it.
    """
    pattern = f"{name_prefix}-{uuid.uuid4().hex[:8]}@%h"
    argv = worker_argv(
        module,
        pattern,
        pool=pool,
        concurrency=concurrency,
        queues=queues,
        loglevel=loglevel,
        interpreter_args=interpreter_args,
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=own_session
        )
    worker = WorkerProcess(name=pattern.replace("%h", os.uname().nodename), process=process, log_path=log_path)
    control = app.control
    try:
        wait_until(
            lambda: not worker.alive() or control.ping(destination=[worker.name], timeout=0.5),
            timeout_s=start_timeout_s,
            what=f"worker {worker.name} to answer ping",
        )
    except AssertionError as exc:  # wait_until's timeout
        worker.stop()
        raise WorkerDidNotStart(f"{exc}; worker log:\n{worker.log_tail()}") from exc
    except BaseException:  # Ctrl-C, a broken broker: the worker must not outlive the caller's failure
        worker.stop()
        raise
    if not worker.alive():
        raise WorkerDidNotStart(f"worker {worker.name} exited with {process.returncode}:\n{worker.log_tail()}")
    return worker


@contextmanager
def running_worker(app: Any, module: str, **options: Any) -> Iterator[WorkerProcess]:
    """:func:`start_worker` as a block: the worker is stopped however the block ends."""
    worker = start_worker(app, module, **options)
    try:
        yield worker
    finally:
        worker.stop()


@contextmanager
def running_process(
    name: str, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path
) -> Iterator[WorkerProcess]:
    """Any Celery process (beat, ...) from the project root, output to ``log_path``; stopped however the block ends."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(argv), cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    started = WorkerProcess(name=name, process=process, log_path=log_path)
    try:
        yield started
    finally:
        started.stop()
