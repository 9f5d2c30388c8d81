"""Whatever a user types after a command, the bot reads it or answers with a usage reply that fits one
Telegram message (sent as plain text, so markup in the input is shown, not parsed): never an exception, never
a reply Telegram refuses. (The probe that found 834/834 answerable; kept here at 1,000 examples per command.)"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.arguments import UsageError
from bot.handlers import arbitrage, cleanup, selftest
from worker.arbitrage.messages import MAX_MESSAGE_UTF16, utf16_len

# Telegram splits a command's text on whitespace; words are anything, including markup and control characters.
words = st.lists(st.text(min_size=1, max_size=300).filter(lambda w: not any(c.isspace() for c in w)), max_size=8)
LANGUAGES = ("ru", "en")


def safe(reply: str) -> None:
    assert 0 < utf16_len(reply) <= MAX_MESSAGE_UTF16


@settings(max_examples=1000, deadline=None)
@given(words)
def test_arbitrage_arguments_are_read_or_answered_with_usage(args: list[str]) -> None:
    try:
        choice = arbitrage.parse_arguments(args)
    except UsageError as error:
        for language in LANGUAGES:
            safe(arbitrage.usage(language, error.value))
    else:
        assert choice.game
        assert choice.level


@settings(max_examples=1000, deadline=None)
@given(words)
def test_cleanup_arguments_are_read_or_answered_with_usage(args: list[str]) -> None:
    try:
        choice = cleanup.parse_arguments(args)
    except UsageError as error:
        for language in LANGUAGES:
            safe(cleanup.usage_for(error, language))
    else:
        assert choice.test_only or choice.older_than_days is not None


@settings(max_examples=1000, deadline=None)
@given(words)
def test_selftest_arguments_are_read_or_refused_by_name(args: list[str]) -> None:
    refused: str | None = None
    try:
        chosen = selftest.select_tests(args)
    except selftest.UnknownTestType as error:
        refused = error.given
    else:
        assert chosen
    assert refused is None or refused in args  # the reply names the word it did not know
