"""The Celery app: every setting in one place, with the reason for it, read from one Settings on first use.

Creating the app reads nothing: Celery calls ``on_configure`` the first time anything needs the
configuration (the worker, beat or Flower starting, a task being sent), and only then are the settings
loaded. Tests and tools pass their own ``Settings`` to :class:`WorkerApp` instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, cast

import redis
import sentry_sdk
from celery import Celery, Task
from celery.exceptions import Reject
from celery.schedules import crontab
from celery.signals import (
    after_setup_logger,
    beat_init,
    celeryd_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)
from kombu.entity import Exchange, Queue

import beat_schedule
from common.contract import INTERACTIVE_QUEUES, MAINTENANCE_QUEUES, QUEUES, ROUTES, abandoned_key
from common.logs import configure_logging
from common.observability.breadcrumbs import TRAIL_HEADER, replay_trail
from common.observability.sdk import init_sentry
from common.redis_client import is_sentinel, parse_sentinel_url, transport_options
from common.retry import RetryPolicy
from common.settings import Settings, load_settings_or_exit
from common.status import install_sent_at_stamp
from worker.resources import Resources

log = logging.getLogger(__name__)

TASK_MODULES = (
    "worker.tasks.system",
    "worker.tasks.selftest",
    "worker.tasks.arbitrage",
    "worker.tasks.cleanup",
    "worker.tasks.upkeep",
    "worker.tasks.alerts",
    "worker.tasks.watch",
    "worker.tasks.status",
)
DEFAULT_SOFT_TIME_LIMIT_S = 240
DEFAULT_TIME_LIMIT_S = 300
# A message a worker took but did not acknowledge (it died: OOM, host lost, kill -9) goes back to its queue
# once it has been out this long. It must exceed the hard time limit of every task that can hold it, or a
# running task would be handed out twice; beyond that, every second of it is a second a user waits for a
# dead worker's scan. So each pool family has its own: the interactive pool's tasks end within 4.5 minutes
# (the scan's hard limit), the maintenance pool's within 30 (the cleanup's). And each family keeps its own
# unacked set (kombu's unacked keys), or the interactive pool would hand out a 25-minute cleanup after 6
# minutes. A worker consuming both families (a single `celery worker`) uses the longer timeout.
INTERACTIVE_VISIBILITY_TIMEOUT_S = 6 * 60
MAINTENANCE_VISIBILITY_TIMEOUT_S = 35 * 60
VISIBILITY_MARGIN_S = 60  # at least this much above every hard limit: the ack itself, a slow result write
VISIBILITY_TIMEOUT_S = MAINTENANCE_VISIBILITY_TIMEOUT_S  # senders and mixed workers
# How often a consuming worker looks for messages past their visibility timeout (a dead worker's): kombu sweeps
# every interval × throttle seconds, 10 × 10 = 100 s by default; 10 × 3 keeps a dead worker's scan back within
# half a minute of its timeout for one ZRANGE per 30 s.
RESTORE_INTERVAL_S = 10
RESTORE_THROTTLE = 3
# A dead Redis must fail fast, not hang a worker's publish.
BROKER_SOCKET_TIMEOUT_S = 2.0


class TaskFailed(Exception):
    """The task failed for good and was already reported: Celery's FAILURE, without a second Sentry event.

    ``summary`` is what Flower and the result show; ``status`` the Sentry span status the task's transaction
    ends with (common/observability/failures.py); ``result`` what the task would have returned (its counters).
    The arguments are the exception's ``args``, so the JSON result backend rebuilds it as it was raised.
    """

    def __init__(self, summary: str, status: str = "internal_error", result: dict[str, Any] | None = None) -> None:
        super().__init__(summary, status, result)
        self.summary, self.status, self.result = summary, status, result

    def __str__(self) -> str:
        return self.summary


class BaseTask(Task):  # type: ignore[misc]
    """Every task: the process's resources, and the project's retry policy for a task retried as a whole."""

    retry_policy = RetryPolicy(max_attempts=6, deadline_s=3600.0, base_s=2.0, max_backoff_s=300.0)
    # Riding out an outage of the database (or Redis): retries that together span 77-155 s, a realistic blip
    # (a PostgreSQL restart or failover), after which the work fails for good and people are told.
    outage_policy = RetryPolicy(max_attempts=7, deadline_s=300.0, base_s=5.0, max_backoff_s=40.0)
    # Reported where it happened; Celery logs it without a traceback and sentry-sdk does not capture it again.
    throws = (TaskFailed,)

    @property
    def resources(self) -> Resources:
        return cast("WorkerApp", self.app).resources

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Inside the Sentry integration's per-task scope: the sender's trail comes first, then the task's own.
        headers = self.request.headers or {}
        replay_trail(self.request.get(TRAIL_HEADER) or headers.get(TRAIL_HEADER))
        return super().__call__(*args, **kwargs)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Runs inside the task's transaction, after sentry-sdk marked it internal_error: say what really failed.
        if isinstance(exc, TaskFailed):
            span = sentry_sdk.get_current_span()
            if span is not None:
                span.set_status(exc.status)

    def abandoned_by_sender(self) -> bool:
        """The bot told its user this send failed (bot.producer marks it): such a task must not run."""
        try:
            return bool(self.resources.redis.exists(abandoned_key(str(self.request.id))))
        except redis.RedisError:
            return False  # the common case by far is a task nobody abandoned

    def drop_if_abandoned(self) -> None:
        """Reject (not requeue) a task its sender abandoned; Flower shows it as REJECTED."""
        if self.abandoned_by_sender():
            log.info("Task %s %s was abandoned by its sender; not running it", self.name, self.request.id)
            raise Reject("abandoned by its sender: the user was told it could not be queued", requeue=False)

    def outage_countdown_s(self) -> float:
        """Seconds before the next attempt of work waiting for the database (or Redis) to come back."""
        return self.outage_policy.outage_wait_s(int(self.request.retries) + 1)

    def retry_countdown_s(self, server_wait_s: float | None = None) -> float:
        """Seconds before the next attempt: jittered backoff, never sooner than the server asked."""
        return self.retry_policy.wait_s(int(self.request.retries) + 1, server_wait_s)


def pool_transport_options(queues: Sequence[str] | str | None) -> dict[str, Any]:
    """The broker options of a worker consuming ``queues`` (all queues when None): see VISIBILITY_TIMEOUT_S."""
    names = {q.strip() for q in queues.split(",")} if isinstance(queues, str) else set(queues or QUEUES)
    names.discard("")
    if names and names <= set(INTERACTIVE_QUEUES):
        family, timeout = "interactive", INTERACTIVE_VISIBILITY_TIMEOUT_S
    elif names and names <= set(MAINTENANCE_QUEUES):
        family, timeout = "maintenance", MAINTENANCE_VISIBILITY_TIMEOUT_S
    else:
        family, timeout = "", VISIBILITY_TIMEOUT_S  # kombu's default keys, the longest timeout
    sweep = {"unacked_restore_interval": RESTORE_INTERVAL_S, "unacked_restore_throttle": RESTORE_THROTTLE}
    if not family:
        return {"visibility_timeout": timeout, **sweep}
    return {
        "visibility_timeout": timeout,
        **sweep,
        "unacked_key": f"unacked:{family}",
        "unacked_index_key": f"unacked_index:{family}",
        "unacked_mutex_key": f"unacked_mutex:{family}",
    }


def schedule_from_data(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Turn beat_schedule.py's plain data into Celery's schedule (crontab fields become crontab objects)."""
    schedule = {}
    for name, entry in entries.items():
        spec = dict(entry)
        spec["schedule"] = crontab(**{k: str(v) for k, v in spec.pop("crontab").items()})
        schedule[name] = spec
    return schedule


# BEAT_SCHEDULER=redbeat: the leader refreshes its Redis lock on every tick (at least every 5 s); a leader that
# died without releasing it is replaced once the lock expires, so an entry is late by at most 30 s.
REDBEAT_MAX_LOOP_INTERVAL_S = 5
REDBEAT_LOCK_TIMEOUT_S = 30
REDBEAT_KEY_PREFIX = "redbeat:"


def scheduler_config(settings: Settings) -> dict[str, Any]:
    """Beat's scheduler: Celery's file-backed one, or celery-redbeat's Redis-locked one (BEAT_SCHEDULER)."""
    if settings.beat_scheduler != "redbeat":
        return {"beat_schedule_filename": "var/celerybeat-schedule"}
    config: dict[str, Any] = {
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_key_prefix": REDBEAT_KEY_PREFIX,
        "redbeat_lock_timeout": REDBEAT_LOCK_TIMEOUT_S,
        "beat_max_loop_interval": REDBEAT_MAX_LOOP_INTERVAL_S,
    }
    if is_sentinel(settings.redis_url):
        # RedBeat's own spelling of a Sentinel set: a redis-sentinel:// URL and the addresses as options.
        parsed = parse_sentinel_url(settings.redis_url)
        config["redbeat_redis_url"] = "redis-sentinel://"
        config["redbeat_redis_options"] = {
            "sentinels": parsed.sentinels,
            "service_name": settings.redis_sentinel_master,
            "password": parsed.password,
            "db": parsed.db,
            "socket_timeout": BROKER_SOCKET_TIMEOUT_S,
        }
    return config


def celery_config(settings: Settings) -> dict[str, Any]:
    """The project's Celery conventions (DESIGN.md §4) for ``settings``."""
    sentinel = transport_options(settings.redis_url, settings.redis_sentinel_master)
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "socket_timeout": BROKER_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_S,
            # REDIS_URL=sentinel://...: kombu's Sentinel transport asks for the master of this group.
            **sentinel,
        },
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S, **sentinel},
        "redis_socket_timeout": BROKER_SOCKET_TIMEOUT_S,
        "redis_socket_connect_timeout": BROKER_SOCKET_TIMEOUT_S,
        # JSON only: no pickle from a shared broker.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Work must not be lost when a worker dies: ack after the task ran, requeue if the process vanished.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": DEFAULT_SOFT_TIME_LIMIT_S,
        "task_time_limit": DEFAULT_TIME_LIMIT_S,
        # Each queue on its own direct exchange with routing key = queue name; the bot's producer relies on it.
        "task_queues": [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
        "task_default_queue": "default",
        "task_routes": {name: {"queue": queue} for name, queue in ROUTES.items()},
        "task_create_missing_queues": False,
        # Flower sees every task from "sent" on.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "result_expires": 24 * 60 * 60,
        "result_extended": True,
        # beat reads the crontab fields of beat_schedule.py in this zone, and sentry-sdk tells Sentry Crons the
        # same zone in each monitor's config; message times (ETAs, expiry) stay UTC whatever it is.
        "timezone": settings.celery_timezone,
        "enable_utc": True,
        "beat_schedule": schedule_from_data(beat_schedule.SCHEDULE),
        **scheduler_config(settings),
        "worker_hijack_root_logger": False,
        "imports": TASK_MODULES,
    }


class WorkerApp(Celery):  # type: ignore[misc]
    """The Celery app with the settings it was configured from and the process's resources."""

    def __init__(self, settings: Settings | None = None, **options: Any) -> None:
        super().__init__("worker", task_cls=BaseTask, **options)
        self._settings = settings
        self._resources: Resources | None = None
        self._resources_lock = threading.Lock()
        self.on_configure.connect(self._configure, weak=False)

    @property
    def settings(self) -> Settings:
        """The settings this app runs on; loaded from the environment on first use if none were given."""
        if self._settings is None:
            self._settings = load_settings_or_exit()
        return self._settings

    def use_settings(self, settings: Settings) -> None:
        """Run on ``settings`` (tools, tests); only before anything has read the configuration."""
        if self.configured:
            raise RuntimeError("the Celery app is already configured; give it its settings before first use")
        self._settings = settings

    def _configure(self, sender: Celery, **_: Any) -> None:
        self.config_from_object(celery_config(self.settings))
        # Every message this process publishes (beat's, a retry, a chained task) says when it left, for /status.
        install_sent_at_stamp()

    @property
    def resources(self) -> Resources:
        """The process's clients, built on first use (or in worker_process_init, after the fork)."""
        with self._resources_lock:
            if self._resources is None:
                self._resources = Resources(self.settings)
            return self._resources

    def use_resources(self, resources: Resources | None) -> Resources | None:
        """Replace the process's resources (tests); returns the previous ones, which the caller closes."""
        with self._resources_lock:
            previous, self._resources = self._resources, resources
            return previous

    def close_resources(self) -> None:
        previous = self.use_resources(None)
        if previous is not None:
            previous.close()


def create_app(settings: Settings | None = None) -> WorkerApp:
    return WorkerApp(settings)


app = create_app()


@after_setup_logger.connect
def _setup_logging(**_: Any) -> None:
    configure_logging(app.settings)


@celeryd_init.connect
def _init_worker(conf: Any = None, options: dict[str, Any] | None = None, **_: Any) -> None:
    configure_logging(app.settings)
    init_sentry(app.settings, process="worker")
    # Before the worker connects: the visibility timeout and unacked set of the queues it consumes.
    family = pool_transport_options((options or {}).get("queues"))
    target = conf if conf is not None else app.conf
    target.broker_transport_options = {**target.broker_transport_options, **family}
    log.info("Broker: messages unacked for %ss are redelivered", family["visibility_timeout"])


@beat_init.connect
def _init_beat_observability(**_: Any) -> None:
    configure_logging(app.settings)
    init_sentry(app.settings, process="beat")


@worker_process_init.connect
def _open_resources(**_: Any) -> None:
    # After the fork: each pool process makes its own connections (a parent's sockets must not be shared).
    app.resources.redis.ping()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_resources(**_: Any) -> None:
    """Close the process's clients (pooled connections) on shutdown."""
    app.close_resources()
