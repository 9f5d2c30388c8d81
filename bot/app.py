"""Wire the PTB Application and the webhook server into one event loop, and run until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

import uvicorn
from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.handlers import command_descriptions, register
from bot.runtime import BotRuntime, bot_data_for
from bot.updates import ChatOrderedUpdateProcessor
from bot.webhook import build_webhook_app
from common.i18n import LANGUAGES, Language
from common.logs import install_redaction
from common.observability.scrubbing import Scrubber
from common.settings import Settings

log = logging.getLogger(__name__)

# setMyCommands only fills Telegram's command menu: when it fails, the bot runs on and tries again later.
COMMANDS_RETRY_S = 60.0


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host: the bot stops polling and serving on one signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_application(runtime: BotRuntime) -> Application:  # type: ignore[type-arg]
    """The PTB application, pointed at TELEGRAM_API_BASE_URL, with every handler registered."""
    settings = runtime.settings
    assert settings.telegram_bot_token is not None
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{settings.telegram_api_base_url}/bot")
        .base_file_url(f"{settings.telegram_api_base_url}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(ChatOrderedUpdateProcessor(settings.bot_max_concurrent_updates))
        .build()
    )
    application.bot_data.update(bot_data_for(runtime))
    register(application)
    return application


async def publish_commands(application: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Fill Telegram's command menu; on failure log a warning and try again later, never stop the bot."""
    # The default menu in BOT_LANGUAGE; with BOT_LANGUAGE_FROM_USER, Telegram shows ru/en users their own.
    menus: list[tuple[Language, str | None]] = [(settings.bot_language, None)]
    if settings.bot_language_from_user:
        menus += [(language, language) for language in LANGUAGES]
    while True:
        try:
            for language, language_code in menus:
                commands = [BotCommand(name, text) for name, text in command_descriptions(language).items()]
                await application.bot.set_my_commands(commands, language_code=language_code)
            return
        except TelegramError as exc:
            log.warning("Could not set the command menu (%r); trying again in %.0fs", exc, COMMANDS_RETRY_S)
        await asyncio.sleep(COMMANDS_RETRY_S)


def webhook_server(settings: Settings, runtime: BotRuntime) -> EmbeddedServer:
    config = uvicorn.Config(
        build_webhook_app(runtime),
        host=settings.bot_webhook_host,
        port=settings.bot_webhook_port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        # None: uvicorn must not re-run logging.dictConfig, which would drop the redacting filter.
        log_config=None,
    )
    return EmbeddedServer(config)


async def run(settings: Settings, stop: asyncio.Event | None = None, key_prefix: str | None = None) -> None:
    """Poll Telegram (when a token is set) and serve the webhook app until SIGINT/SIGTERM or ``stop``."""
    stop = stop or asyncio.Event()
    if threading.current_thread() is threading.main_thread():  # only the main thread may own signals
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

    runtime = BotRuntime.create(settings, key_prefix=key_prefix)
    web = webhook_server(settings, runtime)
    web_task = asyncio.create_task(web.serve(), name="webhook-server")
    install_redaction(Scrubber(settings.secret_values()))
    log.info("Webhook server on http://%s:%s", settings.bot_webhook_host, settings.bot_webhook_port)
    try:
        if settings.telegram_bot_token is None:
            log.warning("TELEGRAM_BOT_TOKEN is not set: Telegram polling is off, serving the webhook only")
            await stop.wait()
            return
        application = build_application(runtime)
        async with application:
            me = await application.bot.get_me()
            log.info("Polling Telegram at %s as @%s", settings.telegram_api_base_url, me.username)
            commands_task = asyncio.create_task(publish_commands(application, settings), name="set-my-commands")
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=["message", "callback_query"])
            await stop.wait()
            log.info("Stopping the bot")
            commands_task.cancel()
            await application.updater.stop()
            await application.stop()
    finally:
        web.should_exit = True
        await web_task
        await runtime.close()
