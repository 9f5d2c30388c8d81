"""/watch and /unwatch arguments, and the watch notification's size, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.arguments import UsageError
from bot.handlers.arbitrage import parse_arguments
from bot.handlers.watch import WatchChoice, parse_unwatch, parse_watch, usage
from worker.arbitrage.engine import LISTING, Opportunity
from worker.arbitrage.messages import MAX_MESSAGE_UTF16, utf16_len
from worker.watch.messages import notification_text


@pytest.mark.parametrize(
    ("words", "choice"),
    [
        ([], WatchChoice("list")),
        (["dota2"], WatchChoice("add", "dota2", "standard", None)),
        (["CS2", "Pro", "2.5"], WatchChoice("add", "csgo", "pro", 250)),
        (["pro", "5%"], WatchChoice("add", "csgo", "pro", 500)),
        (["7"], WatchChoice("add", "csgo", "standard", 700)),
        (["rust", "boost", "0"], WatchChoice("add", "rust", "boost", 0)),
    ],
)
def test_watch_reads_game_level_and_threshold_in_order(words: list[str], choice: WatchChoice) -> None:
    assert parse_watch(words) == choice


@pytest.mark.parametrize(
    ("words", "named"),
    [
        (["dota3"], "dota3"),
        (["dota2", "pro", "5", "extra"], "extra"),
        (["pro", "dota2"], "dota2"),
        (["1.234"], "1.234"),
        (["-1"], "-1"),
        (["1001"], "1001"),
        (["nan"], "nan"),
    ],
)
def test_watch_names_the_first_word_it_could_not_read(words: list[str], named: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_watch(words)
    assert raised.value.value == named
    assert f"«{named}»" in usage("ru", raised.value.value)


@pytest.mark.parametrize("words", [[], ["0"], ["x"], ["1", "2"], ["1001"], ["١"]])
def test_unwatch_takes_exactly_one_number_from_the_list(words: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_unwatch(words)
    assert parse_unwatch(["3"]) == 3


def test_arbitrage_suggested_is_asked_for_by_name() -> None:
    assert parse_arguments(["dota2", "pro", "suggested"]).method == "suggested"
    assert parse_arguments(["pro"]).method == "valuation"


@given(st.lists(st.text(min_size=1, max_size=600), min_size=1, max_size=40), st.sampled_from(["ru", "en"]))
def test_a_notification_fits_one_telegram_message(titles: list[str], lang: str) -> None:
    found = [
        Opportunity(f"id-{n}", t, 10_000, 0, 12_000, 2_000, 2_000, LISTING, 13_000, 20, 30, 25, True)
        for n, t in enumerate(titles)
    ]
    text = notification_text(lang, "dota2", "pro", 300, found)  # type: ignore[arg-type]
    assert utf16_len(text) <= MAX_MESSAGE_UTF16
    assert "медиана 20 продаж за 30 дней" in text or "median of 20 sales in 30 days" in text
