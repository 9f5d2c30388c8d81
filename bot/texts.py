"""User-facing sentences in Russian (default) and English (BOT_LANGUAGE=en).

Each handler module keeps its own catalogue (a dict key -> {"ru": ..., "en": ...}) and its command
descriptions; this module holds the shared sentences and the lookup.
"""

from __future__ import annotations

# The lookup lives in common/ because workers send user-facing text too (scan progress and results).
from common.texts import Catalogue, Language, translate

__all__ = ["SHARED", "Catalogue", "Language", "text", "translate"]

SHARED: Catalogue = {
    "queue_unavailable": {
        "ru": "⚠️ Очередь задач недоступна, попробуйте через минуту. Код ошибки: {event_id}",
        "en": "⚠️ The task queue is unavailable, please try again in a minute. Error id: {event_id}",
    },
    "internal_error": {
        "ru": "😔 Что-то пошло не так. Мы уже знаем об этом. Код ошибки: {event_id}",
        "en": "😔 Something went wrong. We have been notified. Error id: {event_id}",
    },
    "unknown_argument": {"ru": "Не понимаю «{value}».", "en": "I do not know “{value}”."},
    "missing_value": {"ru": "После «{word}» нужно {needed}.", "en": "“{word}” needs {needed}."},
    "bad_value": {
        "ru": "Не понимаю «{value}»: после «{word}» нужно {needed}.",
        "en": "I do not know “{value}”: “{word}” needs {needed}.",
    },
    "admins_only": {
        "ru": "⛔ Эта команда доступна только администраторам.",
        "en": "⛔ This command is for administrators only.",
    },
}


def text(key: str, language: Language, **values: object) -> str:
    """A shared sentence."""
    return translate(SHARED, key, language, **values)
