"""Run the real PTB Application (production handlers) in a background thread, polling a Telegram sandbox."""

from __future__ import annotations

import asyncio
import datetime as dtm
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from telegram.ext import Application, BaseHandler

from bot.app import build_application
from bot.runtime import BotRuntime
from common.settings import Settings
from tests.support.environment import TEST_KEY_PREFIX

START_TIMEOUT_S = 15.0


@contextmanager
def running_bot(
    settings: Settings,
    extra_handlers: Callable[[], list[BaseHandler]] | None = None,  # type: ignore[type-arg]
) -> Iterator[Application]:  # type: ignore[type-arg]
    """``build_application`` on ``settings``, polling in its own thread and event loop until the block ends.

    ``bot.app.run`` is not used because it installs signal handlers, which only the main thread may do. The
    producer sends with the test run's key prefix, so the test's workers receive what the bot queues.
    """
    loop = asyncio.new_event_loop()
    runtime = BotRuntime.create(settings, key_prefix=TEST_KEY_PREFIX)
    application = build_application(runtime)
    # Before the production handlers: the fallback for unknown commands must not take a test's command.
    for position, handler in enumerate(extra_handlers() if extra_handlers else []):
        application.handlers.setdefault(0, []).insert(position, handler)
    ready = threading.Event()
    failure: list[BaseException] = []
    stop = asyncio.Event()

    async def serve() -> None:
        assert application.updater is not None
        try:
            async with application:
                await application.start()
                await application.updater.start_polling(timeout=dtm.timedelta(seconds=2))
                ready.set()
                await stop.wait()
                await application.updater.stop()
                await application.stop()
        finally:
            await runtime.close()

    def main() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="test-bot", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S) or failure:
        raise RuntimeError(f"the bot did not start within {START_TIMEOUT_S}s: {failure!r}")
    try:
        yield application
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(START_TIMEOUT_S)
        if failure:
            raise failure[0]


@contextmanager
def running_bot_main(settings: Settings) -> Iterator[None]:
    """``bot.app.run`` itself, the bot's real main loop (webhook server, command menu, polling), in a thread."""
    from bot.app import run

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(run(settings, stop, key_prefix=TEST_KEY_PREFIX))
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="test-bot-main", daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(START_TIMEOUT_S)
        if failure:
            raise failure[0]
