"""Every user-facing sentence, in Russian (default) and English (BOT_LANGUAGE=en)."""

from __future__ import annotations

from typing import Literal

Language = Literal["ru", "en"]

_TEXTS: dict[str, dict[Language, str]] = {
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
    "queue_unavailable": {
        "ru": "⚠️ Очередь задач недоступна, попробуйте через минуту. Код ошибки: {event_id}",
        "en": "⚠️ The task queue is unavailable, please try again in a minute. Error id: {event_id}",
    },
    "internal_error": {
        "ru": "😔 Что-то пошло не так. Мы уже знаем об этом. Код ошибки: {event_id}",
        "en": "😔 Something went wrong. We have been notified. Error id: {event_id}",
    },
    "admins_only": {
        "ru": "⛔ Эта команда доступна только администраторам.",
        "en": "⛔ This command is for administrators only.",
    },
}

COMMANDS: dict[str, dict[Language, str]] = {
    "start": {"ru": "приветствие и список команд", "en": "greeting and the list of commands"},
    "help": {"ru": "список команд", "en": "the list of commands"},
}


def text(key: str, language: Language, **values: object) -> str:
    """The sentence ``key`` in ``language`` with ``values`` filled in."""
    return _TEXTS[key][language].format(**values)


def command_list(language: Language) -> str:
    return "\n".join(f"/{name} — {descriptions[language]}" for name, descriptions in COMMANDS.items())
