"""celery beat in tests: its real Scheduler on a fixed clock (no waiting on wall time), and real beat processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sentry_sdk
from celery import Celery
from celery.beat import PersistentScheduler, ScheduleEntry, Scheduler

import beat_schedule
from tests.support.workers import WorkerProcess, running_process
from worker.app import schedule_from_data


class FixedClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class ClockedScheduler(Scheduler):  # type: ignore[misc]
    """The stock in-memory scheduler over beat_schedule.py's data, reading time from ``clock``.

    Every crontab gets ``nowfun=clock``, which is what both ``is_due`` and the entries' ``last_run_at``
    read, so ticking while advancing the clock replays any stretch of calendar instantly.
    With ``record_only`` the entries are recorded instead of sent to the broker; ``names`` keeps only those
    entries (the every-minute upkeep would otherwise fire on every tick of a long replay).
    """

    def __init__(
        self, app: Celery, clock: FixedClock, record_only: bool = True, names: Collection[str] | None = None
    ) -> None:
        self.clock = clock
        self.names = names
        self.record_only = record_only
        self.fired: list[tuple[datetime, ScheduleEntry]] = []
        super().__init__(app, lazy=False)

    def setup_schedule(self) -> None:
        schedule = schedule_from_data(beat_schedule.SCHEDULE)
        if self.names is not None:
            schedule = {name: spec for name, spec in schedule.items() if name in self.names}
        for spec in schedule.values():
            spec["schedule"].nowfun = self.clock
        self.merge_inplace(schedule)

    def apply_async(self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        self.fired.append((self.clock(), entry))
        if self.record_only:
            return None
        return super().apply_async(entry, producer, advance, **kwargs)

    def run_until(self, end: datetime, step: timedelta = timedelta(minutes=1)) -> Iterator[None]:
        """Tick once per ``step`` of clock time until ``end``; yields after each tick."""
        while self.clock() < end:
            # sentry-sdk's beat patch starts a new trace on the current isolation scope, which in a beat
            # process is its own; in a test process that scope is shared with every test that follows.
            with sentry_sdk.isolation_scope():
                while self.tick() == 0:  # 0: an entry was just sent; another may be due at this instant
                    pass
            yield
            self.clock.advance(step)


CATCH_UP_VARIABLE = "TEST_BEAT_CATCH_UP"
LONG_AGO = timedelta(days=400)  # before the previous run of any entry, monthly ones included


class CatchUpScheduler(PersistentScheduler):  # type: ignore[misc]
    """celery beat's default scheduler, for a real ``celery beat`` process in a test (``-S`` this class).

    The entries named in ``TEST_BEAT_CATCH_UP`` (comma-separated) last ran long ago, so beat's first tick
    sends each of them at once — what beat does after it was down when a run was due — and the others are
    left out, so nothing else fires during the test. Everything from the tick on is stock beat and stock
    sentry-sdk: ``Scheduler.apply_entry``, the in_progress check-in, the monitor headers.
    """

    def setup_schedule(self) -> None:
        super().setup_schedule()
        wanted = {name for name in os.environ.get(CATCH_UP_VARIABLE, "").split(",") if name}
        entries = self.schedule
        for name in list(entries):
            if name in wanted:
                entries[name].last_run_at = self.app.now() - LONG_AGO
            else:
                del entries[name]
        self.sync()


def running_beat(
    module: str, *, env: Mapping[str, str], log_path: Path, catch_up: Sequence[str]
) -> AbstractContextManager[WorkerProcess]:
    """A real ``celery -A <module> beat`` process (own schedule file) sending ``catch_up`` at its first tick."""
    schedule_file = log_path.with_suffix(".schedule")
    argv = [sys.executable, "-m", "celery", "-A", module, "beat", "-l", "INFO", "-s", str(schedule_file)]
    argv += ["-S", f"{__name__}:CatchUpScheduler"]
    return running_process("beat", argv, env={**env, CATCH_UP_VARIABLE: ",".join(catch_up)}, log_path=log_path)
