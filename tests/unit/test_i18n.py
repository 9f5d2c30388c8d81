"""The message catalogues: complete and current, Russian plural forms right, money and numbers per locale."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from telegram import Chat, Message, Update, User

from bot.runtime import language
from common.contract import ContractError, ScanTask
from common.i18n import LANGUAGES, Language, language_from_code, po_path, translator
from scripts import i18n as tool
from tests.support.settings import make_settings
from worker.arbitrage.messages import progress_text, result_text

COUNTS = (0, 1, 2, 5, 11, 21, 22, 25, 101, 111)


def russian_form(n: int) -> int:
    """Russian's plural categories, written out from the grammar (not from the catalogue's header)."""
    if n % 10 == 1 and n % 100 != 11:
        return 0  # 1, 21, 101: один предмет
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1  # 2, 22: два предмета
    return 2  # 0, 5, 11, 25, 111: пять предметов


# Every counted message, by (context, English singular): the Russian forms (one, few, many) and the English
# (one, other). A counted message added to the code without a row here fails the test below.
PLURALS: dict[tuple[str | None, str], tuple[tuple[str, str, str], tuple[str, str]]] = {
    (None, "{n} item"): (("{n} предмет", "{n} предмета", "{n} предметов"), ("{n} item", "{n} items")),
    (None, "{n} sale"): (("{n} продажа", "{n} продажи", "{n} продаж"), ("{n} sale", "{n} sales")),
    (None, "{n}+ sale"): (("{n}+ продажа", "{n}+ продажи", "{n}+ продаж"), ("{n}+ sale", "{n}+ sales")),
    (None, "{n} day"): (("{n} день", "{n} дня", "{n} дней"), ("{n} day", "{n} days")),
    (None, "⚠️ {n} price or sale skipped because DMarket sent malformed data."): (
        (
            "⚠️ Пропущена {n} цена или продажа: DMarket прислал некорректные данные.",
            "⚠️ Пропущены {n} цены и продажи: DMarket прислал некорректные данные.",
            "⚠️ Пропущено {n} цен и продаж: DMarket прислал некорректные данные.",
        ),
        (
            "⚠️ {n} price or sale skipped because DMarket sent malformed data.",
            "⚠️ {n} prices and sales skipped because DMarket sent malformed data.",
        ),
    ),
    (None, "{n} opportunity"): (
        ("{n} возможность", "{n} возможности", "{n} возможностей"),
        ("{n} opportunity", "{n} opportunities"),
    ),
    ("checked on", "{n} page"): (("{n} странице", "{n} страницах", "{n} страницах"), ("{n} page", "{n} pages")),
    ("duration", "{n} second"): (("{n} секунду", "{n} секунды", "{n} секунд"), ("{n} second", "{n} seconds")),
    ("duration", "{n} minute"): (("{n} минуту", "{n} минуты", "{n} минут"), ("{n} minute", "{n} minutes")),
    (None, "⚠️ Stopped at the limit of {n} page: the rest of the price range was not scanned."): (
        (
            "⚠️ Скан остановлен на пределе в {n} страницу: остальной диапазон цен не просмотрен.",
            "⚠️ Скан остановлен на пределе в {n} страницы: остальной диапазон цен не просмотрен.",
            "⚠️ Скан остановлен на пределе в {n} страниц: остальной диапазон цен не просмотрен.",
        ),
        (
            "⚠️ Stopped at the limit of {n} page: the rest of the price range was not scanned.",
            "⚠️ Stopped at the limit of {n} pages: the rest of the price range was not scanned.",
        ),
    ),
    (None, "⚠️ {n} listing skipped: DMarket sent malformed data for it."): (
        (
            "⚠️ Пропущено {n} объявление: DMarket прислал по нему некорректные данные.",
            "⚠️ Пропущено {n} объявления: DMarket прислал по ним некорректные данные.",
            "⚠️ Пропущено {n} объявлений: DMarket прислал по ним некорректные данные.",
        ),
        (
            "⚠️ {n} listing skipped: DMarket sent malformed data for it.",
            "⚠️ {n} listings skipped: DMarket sent malformed data for them.",
        ),
    ),
    (None, "…and {n} more opportunity."): (
        ("…и ещё {n} возможность.", "…и ещё {n} возможности.", "…и ещё {n} возможностей."),
        ("…and {n} more opportunity.", "…and {n} more opportunities."),
    ),
    (None, "… and {n} more issue"): (
        ("… и ещё {n} ошибка", "… и ещё {n} ошибки", "… и ещё {n} ошибок"),
        ("… and {n} more issue", "… and {n} more issues"),
    ),
    (None, "{n} Sentry API call"): (
        ("{n} запрос к API Sentry", "{n} запроса к API Sentry", "{n} запросов к API Sentry"),
        ("{n} Sentry API call", "{n} Sentry API calls"),
    ),
}


def catalogue_plurals() -> dict[tuple[str | None, str], tuple[str, str]]:
    with po_path("ru").open("rb") as file:
        from babel.messages.pofile import read_po

        catalog = read_po(file, locale="ru")
    return {(m.context, str(m.id[0])): (str(m.id[0]), str(m.id[1])) for m in catalog if m.id and m.pluralizable}


def test_the_catalogues_are_complete_current_and_the_code_has_no_russian() -> None:
    assert tool.problems() == []


def test_every_counted_message_has_its_expected_forms_here() -> None:
    assert set(catalogue_plurals()) == set(PLURALS)


@pytest.mark.parametrize("key", sorted(PLURALS, key=str), ids=lambda key: key[1][:30])
@pytest.mark.parametrize("n", COUNTS)
def test_russian_and_english_plural_forms(key: tuple[str | None, str], n: int) -> None:
    context, singular = key
    plural = catalogue_plurals()[key][1]
    (ru_forms, en_forms) = PLURALS[key]
    for lang, expected in (("ru", ru_forms[russian_form(n)]), ("en", en_forms[0 if n == 1 else 1])):
        t = translator(lang)
        got = t.npgettext(context, singular, plural, n) if context else t.ngettext(singular, plural, n)
        assert got == expected.format(n=n), (lang, n)


def test_the_issues_examples_read_as_russian() -> None:
    t = translator("ru")
    found = [t.ngettext("{n} opportunity", "{n} opportunities", n) for n in (1, 2, 5)]
    assert found == ["1 возможность", "2 возможности", "5 возможностей"]
    assert t.ngettext("{n} item", "{n} items", 21) == "21 предмет"
    assert t.ngettext("{n} item", "{n} items", 201) == "201 предмет"
    assert t.ngettext("{n} Sentry API call", "{n} Sentry API calls", 4) == "4 запроса к API Sentry"


def test_counts_in_the_scan_messages_agree_with_their_numbers() -> None:
    assert "Проверено: 201 предмет; найдено: 2 возможности." in progress_text("ru", "csgo", "pro", 3, 201, 2)
    assert "Checked: 1 item; found: 1 opportunity." in progress_text("en", "csgo", "pro", 1, 1, 1)
    text = result_text(
        "ru", game="csgo", level="pro", opportunities=[], items=21, pages=1, capped=False, fee_bp=700,
        min_profit_bp=250,
    )  # fmt: skip
    assert text.startswith("✅ <b>csgo/pro</b>: 0 возможностей\nПроверено: 21 предмет на 1 странице.")
    assert "прибылью от 2,5\xa0% после комиссии 7\xa0%" in text


def test_large_counts_are_grouped_the_locales_way() -> None:
    assert translator("ru").ngettext("{n} item", "{n} items", 12_345) == "12\xa0345 предметов"
    assert translator("en").ngettext("{n} item", "{n} items", 12_345) == "12,345 items"


@pytest.mark.parametrize(
    ("cents", "ru", "en"),
    [
        (107_982, "1\xa0079,82\xa0$", "$1,079.82"),
        (0, "0,00\xa0$", "$0.00"),
        (1, "0,01\xa0$", "$0.01"),
        (-250, "-2,50\xa0$", "-$2.50"),
        (100_000_000, "1\xa0000\xa0000,00\xa0$", "$1,000,000.00"),
        # Beyond a float's 53 bits: the cents are exact because they never pass through a float.
        (12_345_678_901_234_567, "123\xa0456\xa0789\xa0012\xa0345,67\xa0$", "$123,456,789,012,345.67"),
    ],
)
def test_money_per_locale_from_integer_cents(cents: int, ru: str, en: str) -> None:
    assert translator("ru").money(cents) == ru
    assert translator("en").money(cents) == en


@pytest.mark.parametrize(
    ("bp", "ru", "en"),
    [(1234, "12,34\xa0%", "12.34%"), (700, "7\xa0%", "7%"), (5, "0,05\xa0%", "0.05%"), (-150, "-1,5\xa0%", "-1.5%")],
)
def test_percentages_per_locale_from_basis_points(bp: int, ru: str, en: str) -> None:
    assert translator("ru").percent(bp) == ru
    assert translator("en").percent(bp) == en


def test_durations_and_timeouts_say_what_they_mean() -> None:
    ru, en = translator("ru"), translator("en")
    assert [ru.duration(s) for s in (None, 0.2, 1, 21, 119, 120, 121, 3600)] == [
        "пару минут", "1 секунду", "1 секунду", "21 секунду", "119 секунд", "2 минуты", "3 минуты", "60 минут",
    ]  # fmt: skip
    assert [en.timeout(s) for s in (0.5, 3, 90, 120)] == ["0.5 s", "3 seconds", "90 seconds", "2 minutes"]
    assert ru.timeout(0.5) == "0,5 с"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("en", "en"),
        ("en-GB", "en"),
        ("EN_us", "en"),
        ("uk", None),
        ("", None),
        (None, None),
    ],
)
def test_telegram_language_codes(code: str | None, expected: Language | None) -> None:
    assert language_from_code(code) == expected


def update_from(language_code: str | None) -> Update:
    user = User(id=7, first_name="Ann", is_bot=False, language_code=language_code)
    chat = Chat(id=7, type=Chat.PRIVATE)
    return Update(1, message=Message(1, datetime.now(UTC), chat, from_user=user))


def context_with(**settings: Any) -> Any:
    return SimpleNamespace(bot_data={"runtime": SimpleNamespace(settings=make_settings(**settings))})


def test_per_user_language_is_an_option() -> None:
    assert language(context_with(bot_language="ru"), update_from("en")) == "ru"  # off by default
    on = context_with(bot_language="ru", bot_language_from_user=True)
    assert language(on, update_from("en-US")) == "en"
    assert language(on, update_from("de")) == "ru"  # neither ru nor en: BOT_LANGUAGE
    assert language(on, update_from(None)) == "ru"
    assert language(context_with(bot_language="en", bot_language_from_user=True), update_from("ru")) == "ru"


def test_the_reply_language_travels_with_the_task_and_is_checked() -> None:
    call = ScanTask(1, 1, 1, "csgo", "pro", language="en")
    assert ScanTask.from_kwargs(call.kwargs()).language == "en"
    assert ScanTask.from_kwargs({k: v for k, v in call.kwargs().items() if k != "language"}).language is None
    with pytest.raises(ContractError, match="language must be one of ru, en or null, got 'de'"):
        ScanTask.from_kwargs({**call.kwargs(), "language": "de"})


def test_the_compiled_catalogues_match_their_sources() -> None:
    """The .mo files were compiled after the last edit of the .po files (the install step does it)."""
    for lang in LANGUAGES:
        t = translator(lang)
        with po_path(lang).open("rb") as file:
            from babel.messages.pofile import read_po

            catalog = read_po(file, locale=lang)
        for message in catalog:
            if not message.id or message.pluralizable:
                continue
            # gettext() fills the placeholders: let each one stand for itself, so both sides read alike.
            names = {name: "{" + name + "}" for name in tool.placeholders(str(message.id))}
            msgid = str(message.id)
            got = t.pgettext(message.context, msgid, **names) if message.context else t.gettext(msgid, **names)
            assert got == str(message.string).format(**names), (lang, message.id)


# ---- the check itself: each kind of problem is found and named ----------------------------------------------


def catalogue(lang: str, *entries: tuple[Any, Any]) -> Catalog:
    result = Catalog(locale=lang)
    for msgid, msgstr in entries:
        result.add(msgid, msgstr)
    return result


def test_the_check_names_a_missing_translation_and_a_dropped_placeholder() -> None:
    found = list(
        tool.translation_problems(
            catalogue(
                "ru",
                ("Hello {name}", "Привет"),
                ("Bye", ""),
                (("{n} item", "{n} items"), ("{n} предмет", "{count} предмета", "")),
            ),
            "ru",
        )
    )
    assert "ru: 'Hello {name}' has placeholders [], expected ['name']" in found
    assert "ru: 'Bye' has no translation" in found
    assert "ru: '{n} item' needs 3 plural forms, has 2" in found
    assert "ru: '{n} item' plural form 1 has placeholders ['count'], expected ['n']" in found


def test_the_check_names_stale_messages_both_ways() -> None:
    code = catalogue("ru", ("New text", ""), ("Kept", ""))
    po = catalogue("ru", ("Kept", "Оставлено"), ("Old text", "Старый текст"))
    found = list(tool.staleness_problems(code, po, "ru"))
    assert found == [
        "ru: 'New text' is in the code but not in messages.po: run `make i18n`",
        "ru: 'Old text' is in the catalogue but no longer in the code: run `make i18n`",
    ]


def test_the_check_finds_russian_in_code_but_not_in_tests(tmp_path: Path) -> None:
    (tmp_path / "bot").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "bot" / "reply.py").write_text('TEXT = "ok"\nOTHER = "Привет"\n', encoding="utf-8")
    (tmp_path / "tests" / "test_reply.py").write_text('assert "Привет"\n', encoding="utf-8")
    assert list(tool.cyrillic_problems(tmp_path)) == [
        "bot/reply.py:2: Cyrillic text in code; move it to the catalogues (docs/i18n.md)"
    ]


LEGACY = '''"""A module written before the catalogues."""

from __future__ import annotations

from bot.texts import Catalogue

TEXTS: Catalogue = {
    "page": {
        "ru": (
            "🔥 Бот упал: {title}\\n"
            "Подробности в Sentry."
        ),
        "en": (
            "🔥 The bot crashed: {title}\\n"
            "Details are in Sentry."
        ),
    },
    "short": {"ru": "Готово", "en": 'Done'},
}
OTHER = {"not": "a catalogue"}
'''


def test_a_legacy_dict_converts_mechanically() -> None:
    source = LEGACY.encode()
    texts = tool.legacy_texts(source)
    assert [(t.key, t.ru, t.en) for t in texts] == [
        ("page", "🔥 Бот упал: {title}\nПодробности в Sentry.", "🔥 The bot crashed: {title}\nDetails are in Sentry."),
        ("short", "Готово", "Done"),
    ]
    converted = tool.rewrite_legacy(source, texts).decode()
    assert "from common.i18n import N_\n" in converted
    assert "\"short\": N_('Done')," in converted
    assert not tool.CYRILLIC.search(converted)
    namespace: dict[str, Any] = {}
    exec(compile(converted, "legacy.py", "exec"), namespace)  # the result is valid Python with the same English
    assert namespace["TEXTS"] == {"page": texts[0].en, "short": "Done"}
    assert namespace["OTHER"] == {"not": "a catalogue"}
