"""The Celery app: every setting in one place, with the reason for it."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import after_setup_logger, beat_init, celeryd_init, worker_process_shutdown, worker_shutdown
from celery.utils.time import get_exponential_backoff_interval
from kombu.entity import Exchange, Queue

import beat_schedule
from common.logs import configure_logging
from common.observability import init_sentry
from common.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Queues by kind of work, so a slow scan never delays a Sentry check or the maintenance run; the routes below
# are the only place that decides where a task runs. (Alert routing will add its own `alerts` queue.)
QUEUES = ("scans", "sentry", "maintenance", "default")
TASK_ROUTES = {
    "worker.tasks.scans.*": {"queue": "scans"},
    "worker.tasks.sentry_checks.*": {"queue": "sentry"},
    "worker.tasks.maintenance.*": {"queue": "maintenance"},
}

DEFAULT_SOFT_TIME_LIMIT_S = 240
DEFAULT_TIME_LIMIT_S = 300
# Longest task (the monthly cleanup) is capped at 30 minutes; a message unacked for longer than this is
# redelivered, so it must exceed every hard time limit or a running task would be handed out twice.
VISIBILITY_TIMEOUT_S = 2 * 60 * 60
# A dead Redis must fail fast, not hang a worker's publish or the bot's handler.
BROKER_SOCKET_TIMEOUT_S = 2.0
# The bot's own, tighter bound (see use_fast_fail_producer).
PRODUCER_SOCKET_TIMEOUT_S = 0.3


class BaseTask(Task):  # type: ignore[misc]
    """Retry defaults for every task: bounded attempts, exponential backoff with full jitter."""

    max_retries = 5
    retry_base_s = 2.0
    retry_max_s = 300.0

    def retry_countdown_s(self, retry_after_s: float | None = None) -> float:
        """Seconds before the next attempt: jittered backoff, never sooner than the server's Retry-After."""
        backoff_s = get_exponential_backoff_interval(
            self.retry_base_s, self.request.retries, self.retry_max_s, full_jitter=True
        )
        return max(float(backoff_s), retry_after_s or 0.0)


def _schedule_from_data(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Turn beat_schedule.py's plain data into Celery's schedule (crontab fields become crontab objects)."""
    schedule = {}
    for name, entry in entries.items():
        spec = dict(entry)
        spec["schedule"] = crontab(**{k: str(v) for k, v in spec.pop("crontab").items()})
        schedule[name] = spec
    return schedule


def configure(app: Celery, settings: Settings) -> None:
    """Apply the project's Celery conventions (DESIGN.md §4) to ``app``."""
    app.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "socket_timeout": BROKER_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_S,
        },
        result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        redis_socket_timeout=BROKER_SOCKET_TIMEOUT_S,
        redis_socket_connect_timeout=BROKER_SOCKET_TIMEOUT_S,
        # JSON only: no pickle from a shared broker.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # Work must not be lost when a worker dies: ack after the task ran, requeue if the process vanished.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=DEFAULT_SOFT_TIME_LIMIT_S,
        task_time_limit=DEFAULT_TIME_LIMIT_S,
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
        task_default_queue="default",
        task_routes=TASK_ROUTES,
        task_create_missing_queues=False,
        # Flower sees every task from "sent" on.
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        result_expires=24 * 60 * 60,
        result_extended=True,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=_schedule_from_data(beat_schedule.SCHEDULE),
        beat_schedule_filename="var/celerybeat-schedule",
        worker_hijack_root_logger=False,
        imports=("worker.tasks.system", "worker.tasks.sentry_checks", "worker.tasks.scans", "worker.tasks.maintenance"),
    )


def use_fast_fail_producer(app: Celery) -> None:
    """Bound every broker and result-backend socket operation of this process (the bot) well below the
    bot's enqueue timeout (bot.queue.ENQUEUE_TIMEOUT_S, 1 s).

    A send is a SUBSCRIBE to the result channel, then the publish: each is bounded by these timeouts and
    neither is retried, so the
    thread doing it has finished, one way or the other, before the handler stops waiting. Without this a
    slow Redis could publish a task after the user was told "queue unavailable".
    """
    timeouts = {"socket_timeout": PRODUCER_SOCKET_TIMEOUT_S, "socket_connect_timeout": PRODUCER_SOCKET_TIMEOUT_S}
    # kombu retries a refused broker connection for up to broker_connection_timeout (4 s) inside the publish.
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, **timeouts, "max_retries": 0}
    app.conf.broker_connection_timeout = PRODUCER_SOCKET_TIMEOUT_S
    # The Redis result backend retries a failed SUBSCRIBE up to 20 times, a second apart, inside the send.
    app.conf.result_backend_transport_options = {
        **app.conf.result_backend_transport_options,
        "retry_policy": {"max_retries": 0},
    }
    app.conf.redis_socket_timeout = PRODUCER_SOCKET_TIMEOUT_S
    app.conf.redis_socket_connect_timeout = PRODUCER_SOCKET_TIMEOUT_S


def create_app(settings: Settings) -> Celery:
    app = Celery("worker", task_cls=BaseTask)
    configure(app, settings)
    return app


app = create_app(get_settings())
# Make it Celery's default app for every thread: a `shared_task` used from a thread other than the one that
# imported this module (the bot enqueues from asyncio.to_thread) would otherwise bind to a fresh default
# app with no broker configured, and the message would be lost without an error.
app.set_default()


@after_setup_logger.connect
def _setup_logging(**_: Any) -> None:
    configure_logging(get_settings())


@celeryd_init.connect
def _init_worker_observability(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings)
    init_sentry(settings, process="worker")


@beat_init.connect
def _init_beat_observability(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings)
    init_sentry(settings, process="beat")


@worker_process_shutdown.connect
@worker_shutdown.connect
def close_process_clients(**_: Any) -> None:
    """Close the clients created once per process (pooled connections, buffered events) on shutdown."""
    from common.db.session import dispose_engines
    from worker.clients import close_clients
    from worker.sentry.api import close_sentry_apis
    from worker.telegram import close_senders

    close_senders()
    close_sentry_apis()
    close_clients()
    dispose_engines()
