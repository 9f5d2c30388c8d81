"""Command-argument errors and the usage reply every handler gives for them."""

from __future__ import annotations

from bot.texts import Language, text

# What we echo back of an argument we could not read: enough to recognise it, never enough to push the
# reply past Telegram's 4096 characters.
MAX_ECHO_CHARS = 40


class UsageError(ValueError):
    """A command's arguments do not fit its usage; ``value`` is the first one that could not be read.

    ``after``: the word that needed a value (``old`` in ``/cleanup old``); ``value`` is None when it is missing.
    """

    def __init__(self, value: str | None, expected: str, after: str | None = None) -> None:
        problem = f"{after!r} needs {expected}" if after else f"expected {expected}"
        super().__init__(f"{problem}, got {value!r}" if value is not None else f"{problem}, got nothing")
        self.value = value
        self.after = after


def _shown(value: str) -> str:
    return value if len(value) <= MAX_ECHO_CHARS else value[: MAX_ECHO_CHARS - 1] + "…"


def usage_reply(usage: str, language: Language, value: str | None = None) -> str:
    """The usage text, preceded by what was not understood (shortened) when there was something."""
    if value is None:
        return usage
    return text("unknown_argument", language, value=_shown(value)) + "\n" + usage


def usage_reply_for(error: UsageError, usage: str, language: Language, needed: str = "") -> str:
    """The usage text after what was wrong: an unknown word, a bad value, or a value that is missing."""
    if error.after is None:
        return usage_reply(usage, language, error.value)
    if error.value is None:
        head = text("missing_value", language, word=error.after, needed=needed)
    else:
        head = text("bad_value", language, word=error.after, needed=needed, value=_shown(error.value))
    return head + "\n" + usage
