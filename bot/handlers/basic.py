"""/start and /help."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.observed import observed_command
from bot.runtime import language
from bot.texts import Language, Messages, translator
from common.i18n import N_

COMMANDS: Messages = {
    "start": N_("greeting and the list of commands"),
    "help": N_("the list of commands"),
}


def _command_list(lang: Language) -> str:
    from bot.handlers import command_descriptions  # the registry imports this module

    return "\n".join(f"/{name} — {description}" for name, description in command_descriptions(lang).items())


@observed_command("start")
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user and list the commands."""
    lang = language(context, update)
    assert update.effective_message is not None
    greeting = translator(lang).gettext(
        "👋 Hi! I look for arbitrage opportunities on DMarket.\n\n"
        "Commands:\n{commands}\n\n"
        "Long work runs in the background: I answer at once and send the result when it is ready.",
        commands=_command_list(lang),
    )
    await update.effective_message.reply_text(greeting)


@observed_command("help")
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands."""
    lang = language(context, update)
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        translator(lang).gettext("Commands:\n{commands}", commands=_command_list(lang))
    )


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An unknown command or plain text in a private chat: one line pointing at /help."""
    assert update.effective_message is not None
    reply = translator(language(context, update)).gettext("I only understand commands. The list: /help")
    await update.effective_message.reply_text(reply)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CommandHandler("start", start), CommandHandler("help", help_command)]


def fallback_handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    """Registered after every command: whatever no handler took. Groups stay quiet (the bot is one of many)."""
    return [MessageHandler(filters.ChatType.PRIVATE & (filters.TEXT | filters.COMMAND), unknown)]
