"""The alert router: one verified alert in, a page, a counter, or an edit out (docs/alerts.md).

Tier 1 pages the alerts chat at once, one page per issue per ``ALERT_DEDUPE_WINDOW_S``: a repeat edits
the page's counter. Tier 2 only counts (worker/alerts/counters.py); the digest task sends what is over its
threshold. ``issue`` ``resolved``/``archived`` edits the issue's latest page. Every message goes through
the Telegram outbox (worker/telegram/outbox.py), so a 429 or an outage keeps it until Telegram takes it and
a 403 is recorded once, never retried for ever. Page rows survive restarts (``alert_pages``).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from common.contract import ALERT_PAGE_KEY_LEN, AlertTask
from common.db.models import AlertPage, SentMessage
from common.settings import Settings
from worker.alerts import counters
from worker.alerts.messages import DigestLine, PageState, as_alert, page_keyboard, render_digest, render_page
from worker.alerts.tiers import BY_NAME, COUNTED, TierRule, classify
from worker.resources import Resources
from worker.telegram import outbox
from worker.telegram.outbox import Extras

log = logging.getLogger(__name__)

ROUTED_KEY_PREFIX = "alerts:routed:"
ROUTED_TTL_S = 24 * 60 * 60
LOCK_PREFIX = "alerts:lock:"
DIGEST_PERIOD_S = 30 * 60


@dataclass(frozen=True)
class Outcome:
    """What the router did: ``paged``, ``repeat``, ``muted``, ``counted``, ``edited``, ``unmatched``,
    ``no_page``, ``duplicate`` or ``no_destination``; the page key when there is one."""

    what: str
    page_key: str | None = None
    delivery: str | None = None


def dedupe_key(alert: AlertTask) -> str:
    if alert.issue_id is not None:
        return f"issue:{alert.issue_id}"
    return f"metric:{(alert.rule or alert.title)[:100]}"


def thread_for(settings: Settings, tier: int) -> int | None:
    return settings.alert_tier1_thread_id if tier == 1 else settings.alert_tier2_thread_id


def _merge(old: AlertTask, new: AlertTask) -> AlertTask:
    """The newest alert, with what only the older one knew (an issue webhook has counts, an event tags)."""
    fields = ("short_id", "culprit", "environment", "release", "component", "exception_type", "count", "user_count")
    filled = {name: getattr(old, name) for name in fields if getattr(new, name) is None}
    if new.url is None or (old.url and "/events/" not in old.url and "/events/" in (new.url or "")):
        filled["url"] = old.url  # keep the issue's link rather than one event's
    if new.rule is None:
        filled["rule"] = old.rule
    return replace(new, **filled) if filled else new


def page_state(page: AlertPage) -> PageState:
    note = page.status_note or {}
    at = note.get("at")
    muted_by = note.get("muted_by")
    return PageState(
        repeats=page.repeats,
        last_at=page.updated_at,
        status=note.get("shown", page.status),
        status_by=note.get("by"),
        status_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        muted_until=page.muted_until,
        muted_by=muted_by if isinstance(muted_by, str) else None,
    )


def message_id_of(resources: Resources, page: AlertPage) -> int | None:
    """The page's message id, also when the outbox delivered it after the router's own attempt."""
    if page.message_id is not None:
        return page.message_id
    with resources.database.session() as session:
        sent = session.scalar(select(SentMessage).where(SentMessage.key == page.outbox_key))
        return sent.message_id if sent is not None else None


def show(resources: Resources, page: AlertPage) -> outbox.Delivery:
    """Send or edit ``page``'s message to what the row says now (through the outbox)."""
    settings = resources.settings
    rule = BY_NAME[page.rule]
    alert = as_alert(page.alert)
    text = render_page(alert, rule, page_state(page), settings.bot_language)
    keyboard = page_keyboard(page.key, page.status, settings.bot_language)
    message_id = message_id_of(resources, page)
    delivery = outbox.deliver(
        resources.telegram(),
        resources.database,
        page.outbox_key,
        page.chat_id,
        text,
        message_id,
        Extras(reply_markup=keyboard, message_thread_id=page.message_thread_id),
    )
    if delivery.message_id is not None and delivery.message_id != page.message_id:
        with resources.database.session() as session:
            row = session.get(AlertPage, page.id)
            if row is not None:
                row.message_id = delivery.message_id
    return delivery


def latest_page(resources: Resources, key: str) -> AlertPage | None:
    with resources.database.session() as session:
        page = session.scalar(
            select(AlertPage).where(AlertPage.dedupe_key == key).order_by(AlertPage.id.desc()).limit(1)
        )
        if page is not None:
            session.expunge(page)
        return page


def route(resources: Resources, alert: AlertTask, now: datetime | None = None) -> Outcome:
    """Handle one alert (idempotent per Request-ID: a redelivered task changes nothing twice)."""
    now = now or datetime.now(UTC)
    settings = resources.settings
    chat_id = settings.alert_target_chat_id
    if chat_id is None:
        log.warning("Alert %r not sent: set ALERT_CHAT_ID or ADMIN_CHAT_ID", alert.title[:80])
        return Outcome("no_destination")
    done_key = ROUTED_KEY_PREFIX + alert.request_id
    if resources.redis.exists(done_key):
        return Outcome("duplicate")
    with resources.redis.lock(LOCK_PREFIX + dedupe_key(alert), timeout=60, blocking_timeout=30):
        outcome = _route(resources, alert, chat_id, now)
    resources.redis.set(done_key, outcome.what, ex=ROUTED_TTL_S)
    log.info("Alert %s %s.%s: %s", alert.request_id, alert.resource, alert.action, outcome.what)
    return outcome


def _route(resources: Resources, alert: AlertTask, chat_id: int, now: datetime) -> Outcome:
    if alert.resource == "issue" and alert.action in ("resolved", "archived", "ignored"):
        return _issue_changed(resources, alert, now)
    if alert.resource == "metric_alert" and alert.action == "resolved":
        return _issue_changed(resources, alert, now)
    rule = classify(alert)
    if rule is None and alert.resource == "issue":
        # An issue webhook carries no tags, so it rarely matches on its own; about a paged issue it is news.
        page = latest_page(resources, dedupe_key(alert))
        rule = BY_NAME[page.rule] if page is not None and page.status == "open" else None
    if rule is None:
        return Outcome("unmatched")
    if rule.tier == 2:
        counters.record(resources.redis, rule, alert, now.timestamp())
        return Outcome("counted")
    return _page(resources, alert, rule, chat_id, now)


def _page(resources: Resources, alert: AlertTask, rule: TierRule, chat_id: int, now: datetime) -> Outcome:
    settings = resources.settings
    key = dedupe_key(alert)
    page = latest_page(resources, key)
    # Only alerts count as repeats: an issue webhook about the same event is news about the issue, not another one.
    repeat = 1 if alert.resource != "issue" else 0
    if page is not None and page.status in ("resolved", "archived") and alert.action == "unresolved":
        page = None  # a regression pages again
    if page is not None and (page.window_ends_at > now or _muted(page, now)):
        with resources.database.session() as session:
            row = session.get(AlertPage, page.id)
            assert row is not None
            row.alert = _merge(as_alert(row.alert), alert).kwargs()
            row.repeats += repeat
            row.updated_at = now
            muted = _muted(row, now)
            session.flush()
            session.expunge(row)
        if muted:
            return Outcome("muted", row.key)
        delivery = show(resources, row)
        return Outcome("repeat", row.key, delivery.status)
    with resources.database.session() as session:
        row = AlertPage(
            key=secrets.token_hex(ALERT_PAGE_KEY_LEN // 2),
            dedupe_key=key,
            issue_id=alert.issue_id,
            tier=rule.tier,
            rule=rule.name,
            chat_id=chat_id,
            message_thread_id=thread_for(settings, rule.tier),
            alert=(_merge(as_alert(page.alert), alert) if page is not None else alert).kwargs(),
            repeats=0,
            status="open",
            status_note={},
            created_at=now,
            updated_at=now,
            window_ends_at=now + timedelta(seconds=settings.alert_dedupe_window_s),
        )
        session.add(row)
        session.flush()
        session.expunge(row)
    delivery = show(resources, row)
    return Outcome("paged", row.key, delivery.status)


def _muted(page: AlertPage, now: datetime) -> bool:
    return page.muted_until is not None and page.muted_until > now


def _issue_changed(resources: Resources, alert: AlertTask, now: datetime) -> Outcome:
    page = latest_page(resources, dedupe_key(alert))
    if page is None:
        return Outcome("no_page")
    status = "resolved" if alert.action == "resolved" else "archived"
    with resources.database.session() as session:
        row = session.get(AlertPage, page.id)
        assert row is not None
        if row.status == status:
            return Outcome("edited", row.key)  # our own button did it and the page says so already
        row.status = status
        row.status_note = {**(row.status_note or {}), "shown": status, "by": alert.actor, "at": now.isoformat()}
        session.flush()
        session.expunge(row)
    delivery = show(resources, row)
    return Outcome("edited", row.key, delivery.status)


def digest(resources: Resources, now: datetime | None = None) -> Outcome:
    """Every 30 minutes: one digest of the tier-2 counters over their thresholds, or nothing."""
    now = now or datetime.now(UTC)
    settings = resources.settings
    lines = []
    for rule in COUNTED:
        window = counters.read(resources.redis, rule, now.timestamp())
        assert rule.threshold is not None
        if window.count > rule.threshold:
            lines.append(DigestLine(rule.name, window.count, window.samples))
    if not lines:
        return Outcome("quiet")
    chat_id = settings.alert_target_chat_id
    if chat_id is None:
        log.warning("Alert digest not sent: set ALERT_CHAT_ID or ADMIN_CHAT_ID")
        return Outcome("no_destination")
    period = int(now.timestamp() // DIGEST_PERIOD_S)
    delivery = outbox.deliver(
        resources.telegram(),
        resources.database,
        f"alert-digest:{period}",
        chat_id,
        render_digest(lines, settings.bot_language),
        extras=Extras(message_thread_id=thread_for(settings, 2)),
    )
    return Outcome("digest", delivery=delivery.status)
