"""Drive celery beat's real Scheduler with a fixed, test-controlled clock (no waiting on wall time)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from typing import Any

import sentry_sdk
from celery import Celery
from celery.beat import ScheduleEntry, Scheduler

import beat_schedule
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
