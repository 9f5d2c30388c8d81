"""/start and /help."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.observed import observed_command
from bot.runtime import language
from bot.texts import Catalogue, Language, translate

COMMANDS: Catalogue = {
    "start": {"ru": "приветствие и список команд", "en": "greeting and the list of commands"},
    "help": {"ru": "список команд", "en": "the list of commands"},
}

TEXTS: Catalogue = {
    "start": {
        "ru": (
            "👋 Привет! Я ищу арбитражные возможности на DMarket.\n\n"
            "Команды:\n{commands}\n\nТяжёлая работа выполняется в фоне — я отвечаю сразу и пришлю результат."
        ),
        "en": (
            "👋 Hi! I look for arbitrage opportunities on DMarket.\n\n"
            "Commands:\n{commands}\n\nLong work runs in the background: I answer at once and send the result later."
        ),
    },
    "help": {"ru": "Команды:\n{commands}", "en": "Commands:\n{commands}"},
    "unknown": {
        "ru": "Я понимаю только команды. Список — /help",
        "en": "I only understand commands. The list: /help",
    },
}


def _command_list(lang: Language) -> str:
    from bot.handlers import command_descriptions  # the registry imports this module

    return "\n".join(f"/{name} — {description}" for name, description in command_descriptions(lang).items())


@observed_command("start")
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user and list the commands."""
    lang = language(context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(translate(TEXTS, "start", lang, commands=_command_list(lang)))


@observed_command("help")
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands."""
    lang = language(context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(translate(TEXTS, "help", lang, commands=_command_list(lang)))


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An unknown command or plain text in a private chat: one line pointing at /help."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(translate(TEXTS, "unknown", language(context)))


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CommandHandler("start", start), CommandHandler("help", help_command)]


def fallback_handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    """Registered after every command: whatever no handler took. Groups stay quiet (the bot is one of many)."""
    return [MessageHandler(filters.ChatType.PRIVATE & (filters.TEXT | filters.COMMAND), unknown)]
