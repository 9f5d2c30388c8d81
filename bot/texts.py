"""Sentences every command shares; each handler module writes its own where it uses them (docs/i18n.md).

The lookup lives in common/ because workers send user-facing text too (scan progress and results).
"""

from __future__ import annotations

from common.i18n import N_, Language, translator
from common.texts import Catalogue, Messages, translate

__all__ = ["SHARED", "Catalogue", "Language", "Messages", "text", "translate", "translator"]

SHARED: Messages = {
    "queue_unavailable": N_("⚠️ The task queue is unavailable, please try again in a minute. Error id: {event_id}"),
    "internal_error": N_("😔 Something went wrong. We have been notified. Error id: {event_id}"),
    "unknown_argument": N_("I do not know “{value}”."),
    "missing_value": N_("“{word}” needs {needed}."),
    "bad_value": N_("I do not know “{value}”: “{word}” needs {needed}."),
    "admins_only": N_("⛔ This command is for administrators only."),
}


def text(key: str, language: Language, **values: object) -> str:
    """A shared sentence."""
    return translate(SHARED, key, language, **values)
