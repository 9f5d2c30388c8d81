"""What watch subscribers read: command answers and a sweep's grouped notification. Pure formatting."""

from __future__ import annotations

from collections.abc import Sequence

from common.i18n import N_
from common.texts import Catalogue, Language, translate
from worker.arbitrage.engine import Opportunity
from worker.arbitrage.messages import fitting_lines, percent, utf16_len

TEXTS: Catalogue = {
    "added": N_("👀 Subscription #{n}: {game}/{level}, profit from {min_profit}. Checking every {period} min."),
    "updated": N_("👀 Subscription #{n} to {game}/{level} updated: profit from {min_profit}."),
    "cap": N_("⚠️ You already have {count} subscriptions, the maximum. Remove one: /unwatch N (list: /watch)."),
    "list_header": N_("👀 Your subscriptions:"),
    "list_line": N_("{n}. {game}/{level}, profit from {min_profit}"),
    "list_empty": N_("No subscriptions. Subscribe: /watch [game] [level] [min profit %]"),
    "removed": N_("🗑 Subscription #{n} to {game}/{level} removed."),
    "no_such": N_("⚠️ There is no subscription #{n} (you have {count}). List: /watch"),
    "notify_header": N_("🔔 <b>{game}/{level}</b>: new opportunities with a profit from {min_profit} ({found})"),
}


def text(lang: Language, key: str, **values: object) -> str:
    return translate(TEXTS, key, lang, **values)


def notification_text(
    lang: Language, game: str, level: str, min_profit_bp: int, opportunities: Sequence[Opportunity], top_n: int = 10
) -> str:
    """One grouped message per subscriber and sweep, within Telegram's limit by construction."""
    header = text(
        lang, "notify_header", game=game, level=level, min_profit=percent(min_profit_bp, lang), found=len(opportunities)
    )
    return "\n\n".join([header, "\n".join(fitting_lines(lang, opportunities, top_n, used=utf16_len(header)))])
