"""The worker's Bot API sender: messages within Telegram's limit, never cut inside markup or a character."""

from __future__ import annotations

import pytest

from sandbox.telegram.text import parse_html
from sandbox.telegram.text import utf16_len as telegram_utf16_len
from worker.telegram.sender import MAX_MESSAGE_UTF16, cut_utf16, fit_message


@pytest.mark.parametrize("text", ["<b>&amp;</b> " * 700, "🔥" * 3000, "a" * 4095 + "🔥", "&lt;" * 2000])
def test_a_too_long_html_message_still_parses_and_fits(text: str) -> None:
    fitted, parse_mode = fit_message(text, "HTML")
    if parse_mode == "HTML":
        plain, _ = parse_html(fitted)
    else:
        plain = fitted
    assert telegram_utf16_len(plain) <= MAX_MESSAGE_UTF16
    assert telegram_utf16_len(fitted) <= MAX_MESSAGE_UTF16


def test_a_message_within_the_limit_is_sent_as_it_is() -> None:
    assert fit_message("<b>hi</b>", "HTML") == ("<b>hi</b>", "HTML")


def test_cutting_never_splits_a_surrogate_pair() -> None:
    cut = cut_utf16("a" + "🔥" * 10, 4)  # "a" + one pair = 3 units; a second pair would make 5
    assert cut == "a🔥"
    cut.encode("utf-8")  # no lone surrogate left behind
