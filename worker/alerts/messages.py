"""Alert pages and digests as Telegram HTML: every field from Sentry escaped, within 4,096 characters. Pure.

Long fields are cut as plain text *before* escaping, so a cut never lands inside a tag or an entity
(``&amp;``); when the page is still too long, the title and culprit budgets halve until it fits.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from common.contract import AlertTask, alert_callback_data
from common.i18n import N_
from common.texts import Catalogue, Language, shorten, translate
from worker.alerts.tiers import BY_NAME, TierRule
from worker.telegram.sender import MAX_MESSAGE_UTF16, utf16_len

TITLE_BUDGET = 600
CULPRIT_BUDGET = 300
SHORT_FIELD = 100  # environment, release, actor, short id
RULE_BUDGET = 200
DIGEST_SAMPLES = 5

TEXTS: Catalogue = {
    "metric_alert": N_("Metric alert"),
    "database_down": N_("Database down"),
    "trading_failed": N_("Trading failed"),
    "auth_failed": N_("Auth failed"),
    "bot_crashed": N_("Bot crashed"),
    "rate_limit": N_("Rate limit"),
    "api_errors": N_("API errors spike"),
    "tier": N_("tier {tier}"),
    "level": N_("Level"),
    "environment": N_("Environment"),
    "release": N_("Release"),
    "events": N_("Events"),
    "users": N_("Users"),
    "rule": N_("Rule"),
    "issue": N_("Issue"),
    "open_in_sentry": N_("open in Sentry"),
    "test": N_("🧪 Test event (/test_sentry)"),
    "repeats": N_("🔁 Repeated {repeats}× (last at {at})"),
    "resolved": N_("✅ Resolved {by}at {at}"),
    "archived": N_("🗄 Archived until escalating {by}at {at}"),
    "reopened": N_("♻️ Reopened {by}at {at}"),
    "muted": N_("🔕 Muted until {until} ({by})"),
    "by": N_("by {who} "),
    "by_sentry": N_("in Sentry "),
    "button_resolve": N_("✅ Resolve"),
    "button_archive": N_("🗄 Archive"),
    "button_mute": N_("🔕 Mute 24 h"),
    "digest_title": N_("📬 <b>Alert digest</b> for the last hour"),
    "digest_line": N_("{emoji} <b>{name}</b>: {count} (threshold {threshold})"),
    "digest_sample": N_("  • {title} — {count}×"),
}


def t(key: str, language: Language, **values: object) -> str:
    return translate(TEXTS, key, language, **values)


def rule_title(rule: TierRule, language: Language) -> str:
    return t(rule.name, language)


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _hhmm(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def safe_link(url: str | None) -> str | None:
    """``url`` if it is an http(s) URL Telegram can open, else None (a ``javascript:`` link is dropped)."""
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


@dataclass(frozen=True)
class PageState:
    """What the page shows besides the alert: how often it repeated, and what happened to the issue."""

    repeats: int = 0
    last_at: datetime | None = None
    status: str = "open"  # open | resolved | archived | reopened
    status_by: str | None = None
    status_at: datetime | None = None
    muted_until: datetime | None = None
    muted_by: str | None = None


def render_page(alert: AlertTask, rule: TierRule, state: PageState, language: Language, link: str | None = None) -> str:
    """The page's HTML within Telegram's limit."""
    title_budget, culprit_budget = TITLE_BUDGET, CULPRIT_BUDGET
    while True:
        text = _page(alert, rule, state, language, link, title_budget, culprit_budget)
        if utf16_len(text) <= MAX_MESSAGE_UTF16 or title_budget <= 20:
            return text
        title_budget, culprit_budget = title_budget // 2, culprit_budget // 2


def _page(
    alert: AlertTask,
    rule: TierRule,
    state: PageState,
    language: Language,
    link: str | None,
    title_budget: int,
    culprit_budget: int,
) -> str:
    head = f"{rule.emoji} <b>{_e(rule_title(rule, language))}</b> · {t('tier', language, tier=rule.tier)}"
    lines = [head, f"<b>{_e(shorten(alert.title, title_budget))}</b>"]
    if alert.culprit:
        lines.append(f"<code>{_e(shorten(alert.culprit, culprit_budget))}</code>")
    facts = [f"{t('level', language)}: {_e(alert.level)}"]
    if alert.environment:
        facts.append(f"{t('environment', language)}: {_e(shorten(alert.environment, SHORT_FIELD))}")
    if alert.release:
        facts.append(f"{t('release', language)}: {_e(shorten(alert.release, SHORT_FIELD))}")
    lines.append(" · ".join(facts))
    counts = []
    if alert.count is not None:
        counts.append(f"{t('events', language)}: {alert.count}")
    if alert.user_count is not None:
        counts.append(f"{t('users', language)}: {alert.user_count}")
    if counts:
        lines.append(" · ".join(counts))
    if alert.rule:
        lines.append(f"{t('rule', language)}: {_e(shorten(alert.rule, RULE_BUDGET))}")
    href = safe_link(link or alert.url)
    name = _e(shorten(alert.short_id or (f"#{alert.issue_id}" if alert.issue_id else ""), SHORT_FIELD))
    if href and name:
        lines.append(f'{t("issue", language)}: <a href="{_e(href)}">{name}</a>')
    elif href:
        lines.append(f'<a href="{_e(href)}">{t("open_in_sentry", language)}</a>')
    elif name:
        lines.append(f"{t('issue', language)}: {name}")
    if alert.test:
        lines.append(t("test", language))
    if state.repeats and state.last_at is not None:
        lines.append(t("repeats", language, repeats=state.repeats, at=_hhmm(state.last_at)))
    if state.status in ("resolved", "archived", "reopened") and state.status_at is not None:
        by = t("by", language, who=_e(shorten(state.status_by, SHORT_FIELD))) if state.status_by else ""
        lines.append(t(state.status, language, by=by or t("by_sentry", language), at=_hhmm(state.status_at)))
    if state.muted_until is not None:
        who = _e(shorten(state.muted_by or "?", SHORT_FIELD))
        lines.append(t("muted", language, until=_hhmm(state.muted_until), by=who))
    return "\n".join(lines)


def page_keyboard(page_key: str, status: str, language: Language) -> dict[str, Any] | None:
    """Resolve / Archive / Mute 24 h under an open page; a resolved or archived page has no buttons."""
    if status in ("resolved", "archived"):
        return {"inline_keyboard": []}
    row = [
        {"text": t(f"button_{action}", language), "callback_data": alert_callback_data(action, page_key)}
        for action in ("resolve", "archive", "mute")
    ]
    return {"inline_keyboard": [row]}


@dataclass(frozen=True)
class DigestLine:
    rule_name: str
    count: int
    samples: Sequence[tuple[str, int]]  # (title, count), most frequent first


def render_digest(lines: Sequence[DigestLine], language: Language) -> str:
    """The digest of the tier-2 counters over their thresholds."""
    out = [t("digest_title", language)]
    for line in lines:
        rule = BY_NAME[line.rule_name]
        out.append(
            t(
                "digest_line",
                language,
                emoji=rule.emoji,
                name=_e(rule_title(rule, language)),
                count=line.count,
                threshold=rule.threshold,
            )
        )
        for title, count in list(line.samples)[:DIGEST_SAMPLES]:
            out.append(t("digest_sample", language, title=_e(shorten(title, 200)), count=count))
    return "\n".join(out)


def as_alert(kwargs: Mapping[str, Any]) -> AlertTask:
    """The AlertTask a page row stored."""
    return AlertTask.from_kwargs(dict(kwargs))
