"""Command handlers, one module per command family. `register(app)` wires them all."""

from __future__ import annotations

from telegram.ext import Application, CommandHandler

from bot.handlers import basic
from bot.handlers.errors import on_error


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CommandHandler("start", basic.start))
    application.add_handler(CommandHandler("help", basic.help_command))
    application.add_error_handler(on_error)
