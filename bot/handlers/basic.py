"""/start and /help."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.observed import observed_command
from bot.runtime import language
from bot.texts import command_list, text


@observed_command("start")
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user and list the commands."""
    lang = language(context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(text("start", lang, commands=command_list(lang)))


@observed_command("help")
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands."""
    lang = language(context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(text("help", lang, commands=command_list(lang)))
