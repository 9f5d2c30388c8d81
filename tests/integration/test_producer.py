"""The bot's producer against real Redis: fire-and-forget sends, and never a task after "queue unavailable".

Every Redis here is private to the test (a redis-server of its own, or a listener that never answers), so
stopping, slowing or watching it touches nothing else.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from bot.producer import ENQUEUE_TIMEOUT_S, Producer, QueueUnavailable
from common.contract import ScanTask, abandoned_key
from common.settings import Settings
from tests.support.proxy import delay_proxy
from tests.support.redis_server import RedisServer, private_redis
from tests.support.settings import make_settings
from tests.support.waiting import wait_until

CALL = ScanTask(user_id=1, chat_id=1, message_id=1, game="csgo", level="pro")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with private_redis(tmp_path) as running:
        yield running


def send(settings: Settings, call: ScanTask = CALL, task_id: str | None = None) -> tuple[str | None, float]:
    """One send from a fresh producer on its own event loop: (task id or None if refused, seconds it took)."""

    async def main() -> tuple[str | None, float]:
        client = redis.asyncio.Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        producer = Producer(settings, client)
        started = time.monotonic()
        try:
            return await producer.send(call, task_id=task_id), time.monotonic() - started
        except QueueUnavailable:
            return None, time.monotonic() - started
        finally:
            producer.close()
            await client.aclose()

    return asyncio.run(main())


def queued(url: str, queue: str = "scans") -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def test_a_send_queues_the_task_for_the_workers(server: RedisServer) -> None:
    task_id, _ = send(make_settings(redis_url=server.url()))
    assert task_id is not None
    assert queued(server.url()) == 1
    client = redis.Redis.from_url(server.url())
    [raw] = client.lrange("scans", 0, -1)
    client.close()
    assert task_id.encode() in raw
    assert b'"arbitrage.scan"' in raw


def test_a_send_is_two_redis_round_trips_and_subscribes_to_nothing(server: RedisServer) -> None:
    """The message (one script call) and Flower's task-sent event: no SUBSCRIBE for a result nobody reads."""
    settings = make_settings(redis_url=server.url())
    commands: list[str] = []
    watching = threading.Event()

    def monitor() -> None:
        client = redis.Redis.from_url(server.url())
        with client.monitor() as listening:
            watching.set()
            for entry in listening.listen():
                command = entry["command"]
                if command.startswith("ECHO") and "stop-watching" in command:
                    break
                if command.startswith("ECHO") and "start-counting" in command:
                    commands.clear()  # the warm-up (connect, declare) is behind us
                    continue
                if entry.get("client_type") != "lua":  # a script's own commands run inside its one call
                    commands.append(command.split(" ", 1)[0].upper())
        client.close()

    thread = threading.Thread(target=monitor, daemon=True)
    thread.start()
    assert watching.wait(5)

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server.url())
        producer = Producer(settings, client)
        await producer.send(CALL)  # connects and declares the queue once
        await client.echo("start-counting")
        for _ in range(5):
            await producer.send(CALL)
        await client.echo("stop-watching")
        producer.close()
        await client.aclose()

    asyncio.run(main())
    thread.join(5)
    assert commands == ["EVALSHA", "PUBLISH"] * 5


def test_a_broker_that_never_answers_is_refused_within_the_enqueue_timeout() -> None:
    with socket.socket() as listener:  # accepts connections into its backlog; nobody reads or answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        task_id, took_s = send(make_settings(redis_url=f"redis://127.0.0.1:{listener.getsockname()[1]}/0"))
    assert task_id is None
    assert took_s <= ENQUEUE_TIMEOUT_S + 0.2


def test_a_refused_connection_is_not_retried_past_the_bots_wait() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens once the probe socket is closed
    task_id, took_s = send(make_settings(redis_url=f"redis://127.0.0.1:{closed_port}/0"))
    assert task_id is None
    assert took_s <= ENQUEUE_TIMEOUT_S + 0.2


def test_a_slow_but_alive_broker_never_gets_a_task_after_the_user_was_told(server: RedisServer) -> None:
    """The producer's connection is up; then every byte starts reaching Redis 1.5 s late. The push arrives after
    the bot gave up, and Redis refuses it, so the user's "queue unavailable" stays true."""
    with delay_proxy(server.url(), delay_s=0.0) as proxy:
        settings = make_settings(redis_url=proxy.url())

        async def main() -> tuple[str | None, float]:
            client = redis.asyncio.Redis.from_url(server.url())
            producer = Producer(settings, client)
            try:
                await producer.send(CALL)  # connected and warm: the next send is one script call and one event
                proxy.delay_s = 1.5
                started = time.monotonic()
                try:
                    return await producer.send(CALL, task_id="late-task"), time.monotonic() - started
                except QueueUnavailable:
                    return None, time.monotonic() - started
            finally:
                producer.close()
                await client.aclose()

        task_id, took_s = asyncio.run(main())
        assert task_id is None
        assert took_s <= ENQUEUE_TIMEOUT_S + 0.2
        # Let everything the proxy still holds reach Redis: the delayed push, and whatever followed it.
        wait_until(lambda: proxy.idle_s() >= 2 * proxy.delay_s, timeout_s=15, what="the proxy to drain")
    assert queued(server.url()) == 1  # the warm-up send only
    raw = redis.Redis.from_url(server.url()).lrange("scans", 0, -1)
    assert not any(b"late-task" in message for message in raw)


def test_the_same_path_without_the_delay_queues_the_task(server: RedisServer) -> None:
    """The control for the test above: through the same proxy, at no delay, the send goes through."""
    with delay_proxy(server.url(), delay_s=0.0) as proxy:
        task_id, _ = send(make_settings(redis_url=proxy.url()))
    assert task_id is not None
    assert queued(server.url()) == 1


def test_a_refused_send_marks_its_task_abandoned_when_redis_can_still_hear_it(server: RedisServer) -> None:
    """A push whose answer was lost: the bot said "unavailable", so the worker must drop the task."""
    settings = make_settings(redis_url=server.url())

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server.url())
        producer = Producer(settings, client, key_prefix="unreachable-broker:")
        producer._app.conf.broker_url = "redis://127.0.0.1:1/0"  # the broker fails, the bot's Redis does not
        with pytest.raises(QueueUnavailable):
            await producer.send(CALL, task_id="lost-answer")
        producer.close()
        assert await client.exists(abandoned_key("lost-answer")) == 1
        await client.aclose()

    asyncio.run(main())
