"""What handlers need from the running bot: settings, reachable through PTB's bot_data."""

from __future__ import annotations

from typing import Any

from telegram.ext import ContextTypes

from bot.texts import Language
from common.settings import Settings

SETTINGS_KEY = "settings"


def settings_of(context: ContextTypes.DEFAULT_TYPE) -> Settings:
    settings: Settings = context.bot_data[SETTINGS_KEY]
    return settings


def language(context: ContextTypes.DEFAULT_TYPE) -> Language:
    return settings_of(context).bot_language


def is_admin(context: ContextTypes.DEFAULT_TYPE, user_id: int | None) -> bool:
    return user_id is not None and user_id in settings_of(context).admin_user_ids


def bot_data_for(settings: Settings) -> dict[str, Any]:
    return {SETTINGS_KEY: settings}
