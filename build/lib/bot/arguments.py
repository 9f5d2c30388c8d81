"""Command-argument errors and the usage reply every handler gives for them."""

from __future__ import annotations

from bot.texts import Language, text

# What we echo back of an argument we could not read: enough to recognise it, never enough to push the
# reply past Telegram's 4096 characters.
MAX_ECHO_CHARS = 40


class UsageError(ValueError):
    """A command's arguments do not fit its usage; ``value`` is the first one that could not be read."""

    def __init__(self, value: str, expected: str) -> None:
        super().__init__(f"expected {expected}, could not read {value!r}")
        self.value = value


def usage_reply(usage: str, language: Language, value: str | None = None) -> str:
    """The usage text, preceded by what was not understood (shortened) when there was something."""
    if value is None:
        return usage
    shown = value if len(value) <= MAX_ECHO_CHARS else value[: MAX_ECHO_CHARS - 1] + "…"
    return text("unknown_argument", language, value=shown) + "\n" + usage
