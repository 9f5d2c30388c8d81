"""What handlers need from the running bot, built once per process and reachable through PTB's bot_data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio
from telegram import Update
from telegram.ext import ContextTypes

from bot.producer import Producer
from bot.texts import Language
from common.i18n import language_from_code
from common.redis_client import async_client
from common.settings import Settings

RUNTIME_KEY = "runtime"
# Backstop for every Redis call of the bot; each call site also bounds its own wait with asyncio.wait_for.
REDIS_SOCKET_TIMEOUT_S = 5.0


@dataclass
class BotRuntime:
    """The bot process's settings and clients: one async Redis client and one task producer."""

    settings: Settings
    redis: redis.asyncio.Redis
    producer: Producer

    @classmethod
    def create(cls, settings: Settings, key_prefix: str | None = None) -> BotRuntime:
        client = async_client(
            settings.redis_url,
            settings.redis_sentinel_master,
            socket_timeout=REDIS_SOCKET_TIMEOUT_S,
            socket_connect_timeout=1.0,
            health_check_interval=30,
        )
        return cls(settings, client, Producer(settings, client, key_prefix=key_prefix))

    async def close(self) -> None:
        self.producer.close()
        await self.redis.aclose()


def runtime_of(context: ContextTypes.DEFAULT_TYPE) -> BotRuntime:
    runtime: BotRuntime = context.bot_data[RUNTIME_KEY]
    return runtime


def settings_of(context: ContextTypes.DEFAULT_TYPE) -> Settings:
    return runtime_of(context).settings


def language(context: ContextTypes.DEFAULT_TYPE, update: object = None) -> Language:
    """The reply language: the user's Telegram language (ru/en) with BOT_LANGUAGE_FROM_USER, else BOT_LANGUAGE."""
    settings = settings_of(context)
    if settings.bot_language_from_user and isinstance(update, Update) and update.effective_user is not None:
        return language_from_code(update.effective_user.language_code) or settings.bot_language
    return settings.bot_language


def is_admin(context: ContextTypes.DEFAULT_TYPE, user_id: int | None) -> bool:
    return user_id is not None and user_id in settings_of(context).admin_user_ids


def bot_data_for(runtime: BotRuntime) -> dict[str, Any]:
    return {RUNTIME_KEY: runtime}
