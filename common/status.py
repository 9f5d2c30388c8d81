"""What /status reads without a worker: the queues' depths in Redis and beat's next runs. Pure but for Redis.

Queue lengths are not in Flower (it sees events, not the broker's lists), so they are read here, the way
kombu's Redis transport stores a queue: one list per priority step (``scans``, ``scans\\x06\\x163``, ...,
each under Celery's global key prefix), new messages pushed on the left and taken from the right, so the
oldest waiting message is the last element. Every message sent by this project carries ``sent_at`` (epoch
seconds, stamped by :func:`stamp_sent_at` in every process that publishes), which gives the oldest's age.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio
from celery import Celery
from celery.schedules import crontab
from celery.signals import before_task_publish

from common.contract import QUEUES

SENT_AT_HEADER = "sent_at"
# kombu's Redis transport: the separator between a queue's name and its priority step, and the steps.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def queue_keys(queue: str, prefix: str = "") -> list[str]:
    """The Redis lists that hold ``queue``'s waiting messages, step 0 (the queue's own name) first."""
    return [
        f"{prefix}{queue}" if step == 0 else f"{prefix}{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS
    ]


def stamp_sent_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """``before_task_publish``: note when the message left, so /status can tell how long the oldest waits."""
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, round(time.time(), 3))


def install_sent_at_stamp() -> None:
    """Stamp every task this process publishes (idempotent: one receiver however often it is called)."""
    before_task_publish.connect(stamp_sent_at, weak=False, dispatch_uid="common.status.sent_at")


@dataclass(frozen=True)
class QueueDepth:
    """One queue: messages waiting (all priority steps together) and how long the oldest has waited."""

    queue: str
    waiting: int
    oldest_age_s: float | None  # None: empty, or the oldest carries no sent_at (sent by older code)

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "waiting": self.waiting, "oldest_age_s": self.oldest_age_s}


def _sent_at(raw: bytes | str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw).get("headers", {}).get(SENT_AT_HEADER)
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def depth_of(queue: str, lengths: Sequence[int], oldest: Sequence[bytes | str | None], now: float) -> QueueDepth:
    """A queue's depth from each priority list's length and last (oldest) element."""
    stamps = [stamp for stamp in map(_sent_at, oldest) if stamp is not None]
    age = max(0.0, now - min(stamps)) if stamps else None
    return QueueDepth(queue, sum(int(n) for n in lengths), round(age, 1) if age is not None else None)


async def read_depths(
    client: redis.asyncio.Redis, prefix: str = "", queues: Sequence[str] = QUEUES, now: float | None = None
) -> list[QueueDepth]:
    """Every queue's depth in one round trip (LLEN and LINDEX -1 of each priority list)."""
    async with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for key in queue_keys(queue, prefix):
                pipe.llen(key)
                pipe.lindex(key, -1)
        replies = await pipe.execute()
    clock = time.time() if now is None else now
    steps = len(PRIORITY_STEPS)
    depths = []
    for index, queue in enumerate(queues):
        chunk = replies[index * 2 * steps : (index + 1) * 2 * steps]
        depths.append(depth_of(queue, chunk[0::2], chunk[1::2], clock))
    return depths


def next_runs(schedule: Mapping[str, Mapping[str, Any]], now: datetime | None = None) -> list[tuple[str, datetime]]:
    """beat_schedule.py's entries with the next time each fires (UTC), soonest first."""
    moment = now or datetime.now(UTC)
    # An app of its own: crontab reads its time zone from an app, and the current one (the worker's, when this
    # runs in a worker or a test) must not be configured as a side effect of asking.
    app = Celery("schedule", set_as_current=False)
    app.conf.update(timezone="UTC", enable_utc=True)
    runs = []
    for name, entry in schedule.items():
        fields = {key: str(value) for key, value in entry["crontab"].items()}
        # nowfun pins the clock; the app, the time zone (UTC, as beat runs it).
        cron = crontab(**fields, nowfun=lambda: moment, app=app)
        remaining: timedelta = cron.remaining_estimate(moment)
        runs.append((name, (moment + remaining).replace(microsecond=0)))
    return sorted(runs, key=lambda run: run[1])
