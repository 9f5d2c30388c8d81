"""What the user reads about a scan: progress, the result and failures. Pure formatting, HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from common.observability.failures import FAILURES
from common.texts import Catalogue, Language, shorten, translate
from worker.arbitrage.engine import INSTANT, LISTING, SUGGESTED, Opportunity

MAX_MESSAGE_UTF16 = 4096  # Telegram's limit, counted in UTF-16 code units after entity parsing
TOP_N = 10
MAX_TITLE_CHARS = 200  # a hostile listing title must not crowd out the rest of the message

TEXTS: Catalogue = {
    "progress": {
        "ru": "🔎 Сканирую {game}/{level}: страница {page}, {items} предметов, {found} возможностей",
        "en": "🔎 Scanning {game}/{level}: page {page}, {items} items, {found} opportunities",
    },
    "header": {
        "ru": "✅ <b>{game}/{level}</b>: {found} возможностей среди {items} предметов (страниц: {pages})",
        "en": "✅ <b>{game}/{level}</b>: {found} opportunities among {items} items ({pages} pages)",
    },
    "line": {
        "ru": (
            "{n}. <b>{title}</b>\n"
            "    купить {price} → продать {sell} (после комиссии {proceeds}): <b>+{profit}</b> ({percent})"
        ),
        "en": (
            "{n}. <b>{title}</b>\n    buy {price} → sell {sell} ({proceeds} after fee): <b>+{profit}</b> ({percent})"
        ),
    },
    # The basis of each valued opportunity: what it resells for, and why we believe it.
    "line_instant": {
        "ru": (
            "{n}. <b>{title}</b>\n"
            "    купить {price} → продажа в заявку {sell} (после комиссии {proceeds}): <b>+{profit}</b> ({percent})"
            " · заявок: {orders}"
        ),
        "en": (
            "{n}. <b>{title}</b>\n"
            "    buy {price} → sale into a buy order {sell} ({proceeds} after fee): <b>+{profit}</b> ({percent})"
            " · buy orders: {orders}"
        ),
    },
    "line_listing": {
        "ru": (
            "{n}. <b>{title}</b>\n"
            "    купить {price} → медиана {sales} продаж за {days} дн. {sell} (после комиссии {proceeds}): "
            "<b>+{profit}</b> ({percent}) · ликвидность: {liquidity} продаж за {days} дн."
        ),
        "en": (
            "{n}. <b>{title}</b>\n"
            "    buy {price} → median of {sales} sales in {days} d {sell} ({proceeds} after fee): "
            "<b>+{profit}</b> ({percent}) · liquidity: {liquidity} sales in {days} d"
        ),
    },
    "method_suggested": {
        "ru": "ℹ️ Оценка по suggestedPrice — собственной оценке DMarket, а не по реальным заявкам и продажам.",
        "en": "ℹ️ Valued at suggestedPrice: DMarket's own estimate, not real buy orders and sales.",
    },
    "valuing": {
        "ru": "🔎 Оцениваю {game}/{level} по заявкам и продажам: {done} из {total} названий",
        "en": "🔎 Valuing {game}/{level} from buy orders and sales: {done} of {total} titles",
    },
    "skipped_valuations": {
        "ru": "⚠️ Пропущено цен и продаж с некорректными данными от DMarket: {count}.",
        "en": "⚠️ Prices and sales skipped because DMarket sent malformed data: {count}.",
    },
    "none": {
        "ru": "Ничего с прибылью от {min_profit} после комиссии {fee} не нашлось.",
        "en": "Nothing with a profit of at least {min_profit} after the {fee} fee.",
    },
    "more": {"ru": "…и ещё {rest}.", "en": "…and {rest} more."},
    "capped": {
        "ru": "⚠️ Остановился на лимите в {pages} страниц: дальше диапазон не просмотрен.",
        "en": "⚠️ Stopped at the limit of {pages} pages: the rest of the range was not scanned.",
    },
    "resumed": {
        "ru": "🔁 Предыдущая попытка скана {game}/{level} прервалась (воркер остановился) — сканирую заново…",
        "en": "🔁 The last attempt at the {game}/{level} scan was cut off (its worker stopped); scanning again…",
    },
    "interrupted": {
        "ru": (
            "😔 Скан {game}/{level} прервался и не завершился: воркер останавливался, не закончив его. "
            "Запустите /arbitrage ещё раз. Код ошибки: {event_id}"
        ),
        "en": (
            "😔 The {game}/{level} scan was cut off and did not finish: its worker stopped before the end. "
            "Please run /arbitrage again. Error id: {event_id}"
        ),
    },
    "rate_limited": {
        "ru": (
            "⏳ DMarket ограничивает частоту запросов, скан {game}/{level} прерван. "
            "Попробуйте через {wait}. Код ошибки: {event_id}"
        ),
        "en": (
            "⏳ DMarket is rate-limiting us, the {game}/{level} scan stopped. Try again in {wait}. Error id: {event_id}"
        ),
    },
    "dmarket_held": {
        "ru": (
            "⛔ DMarket попросил не обращаться к нему ещё {wait}: до тех пор сканы не запускаются, "
            "операторы уже знают. Скан {game}/{level} не выполнен. Попробуйте через {wait}. Код ошибки: {event_id}"
        ),
        "en": (
            "⛔ DMarket asked us to stay away for another {wait}; no scan can run until then, and the operators "
            "know. The {game}/{level} scan did not run. Please try again in {wait}. Error id: {event_id}"
        ),
    },
    "busy": {
        "ru": (
            "⏳ Сейчас идёт много сканов: общий лимит запросов к DMarket расписан на {wait} вперёд, "
            "скан {game}/{level} не начат. Попробуйте позже. Код ошибки: {event_id}"
        ),
        "en": (
            "⏳ Many scans are running: the shared DMarket request budget is booked {wait} ahead, "
            "so the {game}/{level} scan did not start. Please try later. Error id: {event_id}"
        ),
    },
    "waiting": {
        "ru": "⏳ DMarket просит подождать {wait}: скан {game}/{level} продолжится сам (страница {page}).",
        "en": "⏳ DMarket asks us to wait {wait}: the {game}/{level} scan will go on by itself (page {page}).",
    },
    "skipped_listings": {
        "ru": "⚠️ Пропущено объявлений с некорректными данными от DMarket: {count}.",
        "en": "⚠️ Listings skipped because DMarket sent malformed data: {count}.",
    },
    "seconds": {"ru": "{n} с", "en": "{n}s"},
    "minutes": {"ru": "{n} мин", "en": "{n} min"},
    "couple_of_minutes": {"ru": "пару минут", "en": "a couple of minutes"},
    "auth_failed": {
        "ru": (
            "🔑 DMarket отклонил API-ключи, скан {game}/{level} не выполнен. "
            "Администраторы уже знают. Код ошибки: {event_id}"
        ),
        "en": (
            "🔑 DMarket rejected the API keys, the {game}/{level} scan did not run. "
            "The administrators know. Error id: {event_id}"
        ),
    },
    "not_configured": {
        "ru": "🔑 API-ключи DMarket не настроены, скан {game}/{level} невозможен. Код ошибки: {event_id}",
        "en": "🔑 DMarket API keys are not configured, the {game}/{level} scan cannot run. Error id: {event_id}",
    },
    "dmarket_down": {
        "ru": "📡 DMarket не отвечает, скан {game}/{level} прерван. Попробуйте позже. Код ошибки: {event_id}",
        "en": "📡 DMarket is not responding, the {game}/{level} scan stopped. Please try later. Error id: {event_id}",
    },
    "timeout": {
        "ru": "⌛ Скан {game}/{level} не уложился во время и остановлен. Код ошибки: {event_id}",
        "en": "⌛ The {game}/{level} scan ran out of time and was stopped. Error id: {event_id}",
    },
    "database": {
        "ru": "🗄️ База данных недоступна, скан {game}/{level} не сохранён. Попробуйте позже. Код ошибки: {event_id}",
        "en": "🗄️ The database is unavailable, the {game}/{level} scan was not saved. Try later. Error id: {event_id}",
    },
    "internal": {
        "ru": "😔 Скан {game}/{level} не удался. Мы уже знаем об этом. Код ошибки: {event_id}",
        "en": "😔 The {game}/{level} scan failed. We have been notified. Error id: {event_id}",
    },
}
FAILURE_KEYS = frozenset(FAILURES)  # every scan failure of the failure table has its text (tests/unit)


def dollars(cents: int) -> str:
    """$1,234.05 from 123405; exact, no float."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{rest:02d}"


def percent(bp: int) -> str:
    """12.34% from 1234 basis points."""
    whole, rest = divmod(bp, 100)
    return f"{whole}.{rest:02d}%"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def progress_text(lang: Language, game: str, level: str, page: int, items: int, found: int) -> str:
    return translate(TEXTS, "progress", lang, game=game, level=level, page=page, items=items, found=found)


def valuing_text(lang: Language, game: str, level: str, done: int, total: int) -> str:
    return translate(TEXTS, "valuing", lang, game=game, level=level, done=done, total=total)


def duration(lang: Language, seconds: float | None) -> str:
    """A wait as people say it: "40 с", "3 мин"; unknown: "a couple of minutes"."""
    if seconds is None:
        return translate(TEXTS, "couple_of_minutes", lang)
    whole = max(1, round(seconds))
    if whole < 120:
        return translate(TEXTS, "seconds", lang, n=whole)
    return translate(TEXTS, "minutes", lang, n=-(-whole // 60))


def waiting_text(lang: Language, game: str, level: str, page: int, wait_s: float) -> str:
    return translate(TEXTS, "waiting", lang, game=game, level=level, page=page, wait=duration(lang, wait_s))


def resumed_text(lang: Language, game: str, level: str) -> str:
    return translate(TEXTS, "resumed", lang, game=game, level=level)


def failure_text(
    lang: Language, kind: str, game: str, level: str, event_id: str | None, wait_s: float | None = None
) -> str:
    if kind not in FAILURE_KEYS:
        raise ValueError(f"unknown failure kind {kind!r}, expected one of {sorted(FAILURE_KEYS)}")
    wait = duration(lang, wait_s)
    return translate(TEXTS, kind, lang, game=game, level=level, event_id=event_id or "—", wait=wait)


def result_text(
    lang: Language,
    *,
    game: str,
    level: str,
    opportunities: Sequence[Opportunity],
    items: int,
    pages: int,
    capped: bool,
    fee_bp: int,
    min_profit_bp: int,
    skipped: int = 0,
    top_n: int = TOP_N,
    skipped_valuations: int = 0,
    method: str = "valuation",
) -> str:
    """The final message: a header, the best ``top_n`` opportunities, and whatever else fits in one message.

    Within Telegram's limit by construction: every title is shortened before it is escaped, and the budget is
    counted in UTF-16 units on the text with its markup, which is never shorter than the text Telegram counts.
    """
    header = translate(
        TEXTS, "header", lang, game=game, level=level, found=len(opportunities), items=items, pages=pages
    )
    tail = [translate(TEXTS, "capped", lang, pages=pages)] if capped else []
    if skipped:
        tail.append(translate(TEXTS, "skipped_listings", lang, count=skipped))
    if skipped_valuations:
        tail.append(translate(TEXTS, "skipped_valuations", lang, count=skipped_valuations))
    if method == SUGGESTED:
        tail.append(translate(TEXTS, "method_suggested", lang))
    if not opportunities:
        none = translate(TEXTS, "none", lang, min_profit=percent(min_profit_bp), fee=percent(fee_bp))
        return "\n\n".join([header, none, *tail])
    lines = fitting_lines(lang, opportunities, top_n, used=utf16_len("\n\n".join([header, *tail])))
    return "\n\n".join([header, "\n".join(lines), *tail])


def fitting_lines(lang: Language, opportunities: Sequence[Opportunity], top_n: int, used: int) -> list[str]:
    """The best ``top_n`` opportunities' lines that fit beside ``used`` UTF-16 units, then "...and N more"."""
    lines: list[str] = []
    # Reserve room for the "...and N more" line and the separators, so cutting lines keeps the message valid.
    budget = MAX_MESSAGE_UTF16 - used - 64
    for n, opportunity in enumerate(opportunities[:top_n], start=1):
        line = opportunity_line(lang, n, opportunity)
        if utf16_len(line) + 1 > budget:
            break
        budget -= utf16_len(line) + 1
        lines.append(line)
    rest = len(opportunities) - len(lines)
    if rest:
        lines.append(translate(TEXTS, "more", lang, rest=rest))
    return lines


def opportunity_line(lang: Language, n: int, opportunity: Opportunity) -> str:
    """One numbered opportunity with its basis (buy order, sales median or DMarket's estimate) and liquidity."""
    key = {INSTANT: "line_instant", LISTING: "line_listing"}.get(opportunity.basis, "line")
    liquidity = f"{opportunity.liquidity}+" if opportunity.liquidity_saturated else str(opportunity.liquidity)
    return translate(
        TEXTS,
        key,
        lang,
        n=n,
        title=escape(shorten(opportunity.title, MAX_TITLE_CHARS), quote=False),
        price=dollars(opportunity.price_cents),
        sell=dollars(opportunity.resale_price_cents),
        proceeds=dollars(opportunity.proceeds_cents),
        profit=dollars(opportunity.profit_cents),
        percent=percent(opportunity.profit_bp),
        orders=opportunity.liquidity,
        sales=opportunity.sales_used,
        days=opportunity.window_days,
        liquidity=liquidity,
    )
