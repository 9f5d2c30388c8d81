"""What the user reads about a scan: progress, the result and failures. Pure formatting, HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from common.i18n import N_, Language, Translator, translator
from common.texts import Messages, shorten, translate
from worker.arbitrage.engine import INSTANT, LISTING, SUGGESTED, Opportunity

MAX_MESSAGE_UTF16 = 4096  # Telegram's limit, counted in UTF-16 code units after entity parsing
TOP_N = 10
MAX_TITLE_CHARS = 200  # a hostile listing title must not crowd out the rest of the message

# The scan's failures, by kind (common/observability/failures.py): {wait} is a duration, "in 40 seconds".
TEXTS: Messages = {
    "interrupted": N_(
        "😔 The {game}/{level} scan was cut off and did not finish: its worker stopped before the end. "
        "Please run /arbitrage again. Error id: {event_id}"
    ),
    "dmarket_held": N_(
        "⛔ DMarket asked us to stay away for another {wait}; no scan can run until then, and the operators "
        "know. The {game}/{level} scan did not run. Please try again in {wait}. Error id: {event_id}"
    ),
    "rate_limited": N_(
        "⏳ DMarket is limiting how often we may ask, so the {game}/{level} scan stopped. "
        "Try again in {wait}. Error id: {event_id}"
    ),
    "busy": N_(
        "⏳ Many scans are running: the shared DMarket request budget is booked {wait} ahead, "
        "so the {game}/{level} scan did not start. Please try later. Error id: {event_id}"
    ),
    "auth_failed": N_(
        "🔑 DMarket rejected the API keys, so the {game}/{level} scan did not run. "
        "The administrators know. Error id: {event_id}"
    ),
    "not_configured": N_(
        "🔑 DMarket API keys are not configured, so the {game}/{level} scan cannot run. Error id: {event_id}"
    ),
    "dmarket_down": N_(
        "📡 DMarket is not responding, so the {game}/{level} scan stopped. Please try later. Error id: {event_id}"
    ),
    "timeout": N_("⌛ The {game}/{level} scan ran out of time and was stopped. Error id: {event_id}"),
    "database": N_(
        "🗄️ The database is unavailable, so the {game}/{level} scan was not saved. Please try later. "
        "Error id: {event_id}"
    ),
    "internal": N_("😔 The {game}/{level} scan failed. We have been notified. Error id: {event_id}"),
}
FAILURE_KEYS = frozenset(TEXTS)  # every scan failure of the failure table has its text (tests/unit)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _items(t: Translator, items: int) -> str:
    return t.ngettext("{n} item", "{n} items", items)


def _opportunities(t: Translator, found: int) -> str:
    return t.ngettext("{n} opportunity", "{n} opportunities", found)


def progress_text(lang: Language, game: str, level: str, page: int, items: int, found: int) -> str:
    t = translator(lang)
    return t.gettext(
        "🔎 Scanning {game}/{level}, page {page}. Checked: {items}; found: {found}.",
        game=game,
        level=level,
        page=t.number(page),
        items=_items(t, items),
        found=_opportunities(t, found),
    )


def valuing_text(lang: Language, game: str, level: str, done: int, total: int) -> str:
    t = translator(lang)
    return t.gettext(
        "🔎 Valuing {game}/{level} from buy orders and sales: title {done} of {total}",
        game=game,
        level=level,
        done=t.number(done),
        total=t.number(total),
    )


def percent(basis_points: int, lang: Language = "en") -> str:
    """A share in basis points as the locale writes percentages (integer inside: 1234 → 12.34 %)."""
    return translator(lang).percent(basis_points)


def duration(lang: Language, seconds: float | None) -> str:
    """A wait as people say it: "40 seconds", "3 minutes"; unknown: "a couple of minutes"."""
    return translator(lang).duration(seconds)


def waiting_text(lang: Language, game: str, level: str, page: int, wait_s: float) -> str:
    t = translator(lang)
    return t.gettext(
        "⏳ DMarket asks us to wait {wait}: the {game}/{level} scan will go on by itself (page {page}).",
        wait=t.duration(wait_s),
        game=game,
        level=level,
        page=t.number(page),
    )


def resumed_text(lang: Language, game: str, level: str) -> str:
    return translator(lang).gettext(
        "🔁 The last attempt at the {game}/{level} scan was cut off (its worker stopped); scanning again…",
        game=game,
        level=level,
    )


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
    t = translator(lang)
    # TRANSLATORS: ends "Checked: 287 items on 3 pages."; in Russian the prepositional case.
    pages_read = t.npgettext("checked on", "{n} page", "{n} pages", pages)
    header = t.gettext(
        "✅ <b>{game}/{level}</b>: {found}\nChecked: {items} on {pages}.",
        game=game,
        level=level,
        found=_opportunities(t, len(opportunities)),
        items=_items(t, items),
        pages=pages_read,
    )
    tail = []
    if capped:
        tail.append(
            t.ngettext(
                "⚠️ Stopped at the limit of {n} page: the rest of the price range was not scanned.",
                "⚠️ Stopped at the limit of {n} pages: the rest of the price range was not scanned.",
                pages,
            )
        )
    if skipped:
        tail.append(
            t.ngettext(
                "⚠️ {n} listing skipped: DMarket sent malformed data for it.",
                "⚠️ {n} listings skipped: DMarket sent malformed data for them.",
                skipped,
            )
        )
    if skipped_valuations:
        tail.append(
            t.ngettext(
                "⚠️ {n} price or sale skipped because DMarket sent malformed data.",
                "⚠️ {n} prices and sales skipped because DMarket sent malformed data.",
                skipped_valuations,
            )
        )
    if method == SUGGESTED:
        tail.append(t.gettext("ℹ️ Valued at suggestedPrice: DMarket's own estimate, not real buy orders and sales."))
    if not opportunities:
        none = t.gettext(
            "Nothing with a profit of at least {min_profit} after the {fee} fee.",
            min_profit=t.percent(min_profit_bp),
            fee=t.percent(fee_bp),
        )
        return "\n\n".join([header, none, *tail])
    lines = fitting_lines(lang, opportunities, top_n, used=utf16_len("\n\n".join([header, *tail])))
    return "\n\n".join([header, "\n".join(lines), *tail])


def fitting_lines(lang: Language, opportunities: Sequence[Opportunity], top_n: int, used: int) -> list[str]:
    """The best ``top_n`` opportunities' lines that fit beside ``used`` UTF-16 units, then "...and N more"."""
    t = translator(lang)
    lines: list[str] = []
    # Reserve room for the "...and N more" line and the separators, so cutting lines keeps the message valid.
    budget = MAX_MESSAGE_UTF16 - used - 64
    for n, opportunity in enumerate(opportunities[:top_n], start=1):
        line = _line(t, n, opportunity)
        if utf16_len(line) + 1 > budget:
            break
        budget -= utf16_len(line) + 1
        lines.append(line)
    rest = len(opportunities) - len(lines)
    if rest:
        lines.append(t.ngettext("…and {n} more opportunity.", "…and {n} more opportunities.", rest))
    return lines


def _line(t: Translator, n: int, opportunity: Opportunity) -> str:
    """One numbered opportunity with its basis (buy order, sales median or DMarket's estimate) and liquidity."""
    common = {
        "position": n,
        "title": escape(shorten(opportunity.title, MAX_TITLE_CHARS), quote=False),
        "price": t.money(opportunity.price_cents),
        "sell": t.money(opportunity.resale_price_cents),
        "proceeds": t.money(opportunity.proceeds_cents),
        "profit": t.money(opportunity.profit_cents),
        "percent": t.percent(opportunity.profit_bp),
    }
    if opportunity.basis == INSTANT:
        return t.gettext(
            "{position}. <b>{title}</b>\n"
            "    buy {price} → sale into a buy order {sell} ({proceeds} after fee): <b>+{profit}</b> ({percent})"
            " · buy orders: {orders}",
            orders=t.number(opportunity.liquidity),
            **common,
        )
    if opportunity.basis == LISTING:
        liquidity = t.ngettext("{n} sale", "{n} sales", opportunity.liquidity)
        if opportunity.liquidity_saturated:
            liquidity = t.ngettext("{n}+ sale", "{n}+ sales", opportunity.liquidity)
        return t.gettext(
            "{position}. <b>{title}</b>\n"
            "    buy {price} → median of {sales} in {days} {sell} ({proceeds} after fee): "
            "<b>+{profit}</b> ({percent}) · liquidity: {liquidity} in {days}",
            sales=t.ngettext("{n} sale", "{n} sales", opportunity.sales_used),
            days=t.ngettext("{n} day", "{n} days", opportunity.window_days),
            liquidity=liquidity,
            **common,
        )
    return t.gettext(
        "{position}. <b>{title}</b>\n"
        "    buy {price} → sell {sell} ({proceeds} after fee): <b>+{profit}</b> ({percent})",
        **common,
    )
