"""Command handlers, one module per command family.

Each module exposes ``COMMANDS`` (name -> its English description, marked ``N_``: docs/i18n.md) and
``handlers() -> list[BaseHandler]``. Add a new module to ``MODULES``; /start, /help and the
Telegram command menu are built from them.
"""

from __future__ import annotations

from types import ModuleType

from telegram.ext import Application

from bot.handlers import alerts, arbitrage, basic, cleanup, selftest, status, watch
from bot.handlers.errors import on_error
from bot.texts import Language, translate

MODULES: tuple[ModuleType, ...] = (basic, arbitrage, selftest, cleanup, status, alerts, watch)


def command_descriptions(language: Language) -> dict[str, str]:
    return {name: translate(module.COMMANDS, name, language) for module in MODULES for name in module.COMMANDS}


def register(application: Application) -> None:  # type: ignore[type-arg]
    for module in MODULES:
        for handler in module.handlers():
            application.add_handler(handler)
    for handler in basic.fallback_handlers():  # last: only what no command handler took
        application.add_handler(handler)
    application.add_error_handler(on_error)
