"""The bot's enqueue against a Redis that accepts connections but never answers (a hung or blackholed broker)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from bot.queue import ENQUEUE_TIMEOUT_S, QueueUnavailable, enqueue
from common.settings import Settings
from worker.celery_app import create_app, use_fast_fail_producer


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A TCP listener whose backlog accepts connections that nobody ever reads from or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_a_publish_in_flight_ends_before_the_bot_stops_waiting(
    silent_redis: str, settings_factory: Callable[..., Settings]
) -> None:
    """Otherwise a task could be published after the user was told the queue is unavailable."""
    app = create_app(settings_factory(redis_url=silent_redis))
    use_fast_fail_producer(app)
    outcome: list[BaseException | None] = []

    def publish() -> None:
        try:
            app.send_task("worker.tasks.system.ping", retry=False)
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=publish)
    thread.start()
    thread.join(timeout=ENQUEUE_TIMEOUT_S)
    try:
        assert not thread.is_alive(), "the publish was still in flight when the bot would have replied"
        assert outcome and outcome[0] is not None, "nothing can be published to a broker that never answers"
    finally:
        thread.join()
        app.close()


def test_enqueue_reports_queue_unavailable_with_an_event_id(
    silent_redis: str, settings_factory: Callable[..., Settings]
) -> None:
    app = create_app(settings_factory(redis_url=silent_redis))
    use_fast_fail_producer(app)
    try:
        with pytest.raises(QueueUnavailable):
            asyncio.run(enqueue(app.signature("worker.tasks.system.ping")))
    finally:
        app.close()


def test_a_refused_broker_connection_is_not_retried_past_the_bots_wait(
    settings_factory: Callable[..., Settings], redis_url: str
) -> None:
    """kombu would retry the connection for seconds (and publish if Redis came back meanwhile, after the bot
    replied "queue unavailable"). The result backend answers, so the send gets as far as the publish."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens once the probe socket is closed
    app = create_app(settings_factory(redis_url=f"redis://127.0.0.1:{closed_port}/0"))
    app.conf.result_backend = redis_url
    use_fast_fail_producer(app)
    finished = threading.Event()

    def publish() -> None:
        try:
            app.send_task("worker.tasks.system.ping", retry=False)
        except Exception:
            pass
        finally:
            finished.set()

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        assert finished.wait(ENQUEUE_TIMEOUT_S), "the publish was still retrying when the bot would have replied"
    finally:
        thread.join()
        app.close()
