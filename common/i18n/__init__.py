"""User-facing text: gettext catalogues (Babel-compiled ``.mo``), plural forms and locale-aware numbers.

Messages are written in English in the code, where they are used, and looked up in the catalogue of the
reader's language (``locales/<lang>/LC_MESSAGES/messages.po``, compiled by ``make install``)::

    t = translator(lang)
    t.gettext("⏳ Scan of {game}/{level} queued.", game=game, level=level)
    t.ngettext("{n} opportunity", "{n} opportunities", found)  # {n} is the count, in the locale's digits
    t.money(107982)  # ru "1 079,82 $", en "$1,079.82"

The method names are gettext's, with its argument order, so ``pybabel extract`` finds every message with
its default keywords (docs/i18n.md). Placeholders are ``str.format`` names; the catalogue check refuses a
translation that drops or renames one.
"""

from __future__ import annotations

import gettext
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal, get_args

from babel import Locale
from babel.numbers import format_currency, format_decimal, format_percent

Language = Literal["ru", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "ru"
DOMAIN = "messages"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
# Babel's locale per language: "en" formats the US way ($1,079.82), as DMarket's prices are US dollars.
_BABEL_LOCALES: dict[Language, str] = {"ru": "ru_RU", "en": "en_US"}


class CatalogueMissing(RuntimeError):
    """A compiled catalogue (``.mo``) is not there: the install step that compiles them did not run."""


def mo_path(language: Language) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def po_path(language: Language) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


class Translator:
    """One language's messages: gettext lookups that also fill in the ``{placeholders}``, and its number formats."""

    def __init__(self, language: Language, translations: gettext.NullTranslations) -> None:
        self.language = language
        self.locale = Locale.parse(_BABEL_LOCALES[language])
        self._translations = translations

    def gettext(self, message: str, /, **values: object) -> str:
        return self._translations.gettext(message).format(**values)

    def pgettext(self, context: str, message: str, /, **values: object) -> str:
        """A message whose English is ambiguous alone (a button, a yes/no): ``context`` tells them apart."""
        return self._translations.pgettext(context, message).format(**values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form of the message for the count ``n`` (Russian has three); ``{n}`` is ``n`` in the locale's digits."""
        return self._translations.ngettext(singular, plural, n).format(n=self.number(n), **values)

    def npgettext(self, context: str, singular: str, plural: str, n: int, /, **values: object) -> str:
        return self._translations.npgettext(context, singular, plural, n).format(n=self.number(n), **values)

    def number(self, value: int | Decimal) -> str:
        """12 345 (ru) or 12,345 (en); a Decimal keeps its digits after the point: 1,5 / 1.5."""
        return format_decimal(value, locale=self.locale, decimal_quantization=False)

    def money(self, cents: int, currency: str = "USD") -> str:
        """1 079,82 $ (ru) or $1,079.82 (en) from 107982 cents; exact: the cents never pass through a float."""
        return format_currency(Decimal(cents).scaleb(-2), currency, locale=self.locale)

    def percent(self, basis_points: int) -> str:
        """12,34 % (ru) or 12.34% (en) from 1234 basis points; whole percents without zeros: 5 %."""
        return format_percent(Decimal(basis_points).scaleb(-4), locale=self.locale, decimal_quantization=False)

    def seconds(self, value: float) -> str:
        """A measured time with one decimal and the unit's symbol, as in a report: 1.5 s (ru: "1,5" and its symbol)."""
        tenths = format_decimal(Decimal(round(value * 10)).scaleb(-1), format="0.0", locale=self.locale)
        return self.pgettext("unit symbol", "{value} s", value=tenths)

    def timeout(self, seconds: float) -> str:
        """A configured time limit as it is: "3 seconds" when whole, "0.5 s" when not (never rounded into a lie)."""
        if not (seconds >= 1 and float(seconds).is_integer()):
            return self.seconds(seconds)
        whole = int(seconds)
        if whole % 60:
            return self.npgettext("duration", "{n} second", "{n} seconds", whole)
        return self.npgettext("duration", "{n} minute", "{n} minutes", whole // 60)

    def duration(self, seconds: float | None) -> str:
        """A wait as people say it, after "in" (ru: in the accusative): "40 seconds", "3 minutes"."""
        if seconds is None:
            return self.gettext("a couple of minutes")
        whole = max(1, round(seconds))
        # TRANSLATORS: a wait after "in", "within" or "ahead"; in Russian the accusative case.
        if whole < 120:
            return self.npgettext("duration", "{n} second", "{n} seconds", whole)
        return self.npgettext("duration", "{n} minute", "{n} minutes", -(-whole // 60))


@cache
def translator(language: Language) -> Translator:
    """The translator for ``language``, loaded once per process from its compiled catalogue."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}, expected one of {', '.join(LANGUAGES)}")
    path = mo_path(language)
    try:
        with path.open("rb") as file:
            translations = gettext.GNUTranslations(file)
    except FileNotFoundError:
        raise CatalogueMissing(
            f"{path} is missing: compile the catalogues with `make install` (or `make i18n`)"
        ) from None
    return Translator(language, translations)


def language_from_code(code: str | None) -> Language | None:
    """Our language for a Telegram ``language_code`` (an IETF tag such as "ru" or "en-US"); None for others."""
    if not code:
        return None
    primary = code.replace("_", "-").split("-", 1)[0].lower()
    for language in LANGUAGES:
        if primary == language:
            return language
    return None


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it yet (looked up later, in the reader's language)."""
    return message
