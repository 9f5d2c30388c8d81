"""What users read about scans, and how /arbitrage reads its arguments."""

from __future__ import annotations

import pytest

from bot.handlers.arbitrage import ScanChoice, UsageError, parse_arguments, usage
from common.i18n import translator
from common.observability.failures import FAILURES
from worker.arbitrage.engine import Opportunity
from worker.arbitrage.messages import MAX_MESSAGE_UTF16, failure_text, result_text, utf16_len


def opportunity(n: int, title: str = "AK-47 | Redline") -> Opportunity:
    return Opportunity(f"id-{n}", title, 1_000 + n, 1_500, 1_395, 395 - n, (395 - n) * 10_000 // (1_000 + n))


def test_money_and_percentages_are_exact() -> None:
    en, ru = translator("en"), translator("ru")
    assert (en.money(123_405), en.money(5), en.money(-250)) == ("$1,234.05", "$0.05", "-$2.50")
    assert (ru.money(123_405), ru.money(5), ru.money(-250)) == ("1\xa0234,05\xa0$", "0,05\xa0$", "-2,50\xa0$")
    assert (en.percent(1234), en.percent(5), en.percent(10_000)) == ("12.34%", "0.05%", "100%")
    assert (ru.percent(1234), ru.percent(5), ru.percent(10_000)) == ("12,34\xa0%", "0,05\xa0%", "100\xa0%")


def test_the_result_lists_the_best_with_prices_and_escapes_titles() -> None:
    text = result_text(
        "en",
        game="csgo",
        level="standard",
        opportunities=[opportunity(1, "<b>Bad</b> & Co")],
        items=287,
        pages=3,
        capped=False,
        fee_bp=700,
        min_profit_bp=700,
    )
    assert text.startswith("✅ <b>csgo/standard</b>: 1 opportunity\nChecked: 287 items on 3 pages.")
    assert "&lt;b&gt;Bad&lt;/b&gt; &amp; Co" in text
    assert "<b>Bad</b>" not in text
    assert "buy $10.01 → sell $15.00 ($13.95 after fee): <b>+$3.94</b> (39.36%)" in text


def test_a_result_never_exceeds_one_telegram_message() -> None:
    huge = [opportunity(n, "🔥" * 500) for n in range(200)]  # titles are cut at 200 characters (400 UTF-16 units)
    text = result_text(
        "ru", game="dota2", level="pro", opportunities=huge, items=10_000, pages=100, capped=True, fee_bp=700,
        min_profit_bp=300, top_n=50,
    )  # fmt: skip
    assert utf16_len(text) <= MAX_MESSAGE_UTF16
    shown = text.count("\n    купить ")
    assert 0 < shown < 50
    assert f"…и ещё {200 - shown} возможност" in text
    assert "на пределе в 100 страниц:" in text


def test_nothing_found_says_what_was_looked_for() -> None:
    text = result_text(
        "en", game="rust", level="boost", opportunities=[], items=5, pages=1, capped=False, fee_bp=1000,
        min_profit_bp=1000,
    )  # fmt: skip
    assert "Nothing with a profit of at least 10% after the 10% fee." in text


def test_failures_name_the_scan_and_the_event_id_in_both_languages() -> None:
    assert "csgo/pro" in failure_text("en", "auth_failed", "csgo", "pro", "abc123")
    assert failure_text("ru", "dmarket_down", "tf2", "boost", None).endswith("Код ошибки: —")
    with pytest.raises(ValueError, match="unknown failure kind"):
        failure_text("en", "oops", "csgo", "pro", None)


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_every_scan_failure_of_the_failure_table_tells_the_user_in_both_languages(kind: str) -> None:
    for language in ("ru", "en"):
        text = failure_text(language, kind, "csgo", "pro", "abc123", wait_s=30)
        assert "csgo/pro" in text
        assert "abc123" in text


@pytest.mark.parametrize(
    ("args", "choice"),
    [
        ([], ScanChoice("csgo", "standard")),
        (["dota2"], ScanChoice("dota2", "standard")),
        (["PRO"], ScanChoice("csgo", "pro")),
        (["cs2", "boost"], ScanChoice("csgo", "boost")),
        (["Dota2", "Pro"], ScanChoice("dota2", "pro")),
    ],
)
def test_arguments_default_to_csgo_standard(args: list[str], choice: ScanChoice) -> None:
    assert parse_arguments(args) == choice


@pytest.mark.parametrize(
    ("args", "bad"),
    [
        (["dota3"], "dota3"),
        (["csgo", "ultra"], "ultra"),
        # Read in order: the first word that does not fit is named, not the one that broke a count rule.
        (["csgo", "bar", "baz"], "bar"),
        (["a", "b", "c"], "a"),
        (["pro", "extra"], "extra"),
        (["csgo", "pro", "x"], "x"),
    ],
)
def test_bad_arguments_name_what_was_not_understood(args: list[str], bad: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_arguments(args)
    assert error.value.value == bad
    assert "Levels: boost, standard, medium, advanced, pro" in usage("en", bad)


# ---- what Telegram's own parser makes of the result (the Telegram sandbox's parser, an independent one) -----


@pytest.mark.parametrize("title", ["&" * 400, "<" * 400, "🔥&" * 300, "a" * 199 + "&amp;", "x " * 400])
def test_a_hostile_title_never_breaks_the_markup_or_the_limit(title: str) -> None:
    from sandbox.telegram.text import parse_html
    from sandbox.telegram.text import utf16_len as telegram_utf16_len

    text = result_text(
        "ru",
        game="csgo",
        level="pro",
        opportunities=[opportunity(n, title) for n in range(50)],
        items=5_000,
        pages=50,
        capped=True,
        fee_bp=700,
        min_profit_bp=300,
        skipped=3,
    )
    plain, _entities = parse_html(text)  # raises on a split tag or entity, as Telegram answers 400
    assert telegram_utf16_len(plain) <= MAX_MESSAGE_UTF16
    assert "Пропущено 3 объявления: DMarket прислал по ним некорректные данные." in text


@pytest.mark.parametrize(
    ("seconds", "ru", "en"),
    [
        (None, "пару минут", "a couple of minutes"),
        (0.2, "1 секунду", "1 second"),
        (40, "40 секунд", "40 seconds"),
        (62, "62 секунды", "62 seconds"),
        (3600, "60 минут", "60 minutes"),
        (7260, "121 минуту", "121 minutes"),
    ],
)
def test_failures_name_the_real_wait(seconds: float | None, ru: str, en: str) -> None:
    assert f"Попробуйте через {ru}." in failure_text("ru", "rate_limited", "csgo", "pro", "e1", wait_s=seconds)
    assert f"Try again in {en}." in failure_text("en", "rate_limited", "csgo", "pro", "e1", wait_s=seconds)


def test_our_own_full_budget_is_not_called_dmarkets_rate_limit() -> None:
    busy = failure_text("en", "busy", "csgo", "pro", "e1", wait_s=75)
    assert "shared DMarket request budget is booked 75 seconds ahead" in busy
    assert "rate-limiting us" not in busy
