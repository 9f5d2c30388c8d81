"""Watch sweeps: one scan per band and period serves every subscriber of it; each is told once, grouped.

Idempotent under redelivery, in the database: the sweep row is keyed by band and period (a second sweep of
the same period does nothing), each subscriber's chosen opportunities are written before the message is sent
(a redelivered sweep re-sends exactly those, under the same outbox key, which edits rather than duplicates),
and the cooldown reads what was sent in earlier periods.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from common.db.models import WatchNotification, WatchSweep, utcnow
from common.markets import GAME_IDS, LEVELS
from worker.arbitrage.engine import Opportunity, Rules, rank_key
from worker.arbitrage.workflow import Valuation, scan_market
from worker.resources import Resources
from worker.telegram import outbox
from worker.telegram.sender import TelegramNotConfigured
from worker.watch import messages, subscriptions
from worker.watch.subscriptions import Subscription

log = logging.getLogger(__name__)

RUNNING, DONE = "running", "done"
# A sweep row left "running" this long was abandoned by a dead worker: the next sweep of the period takes it.
STALE_AFTER = timedelta(minutes=30)


def period_of(now_s: float, period_min: int) -> int:
    return int(now_s // (period_min * 60))


def sweep_key(game: str, level: str, period: int) -> str:
    return f"{game}:{level}:{period}"


@dataclass
class SweepOutcome:
    sweep_key: str
    status: str  # done | skipped (already swept, or running elsewhere) | idle (no subscribers)
    opportunities: int = 0
    notified: dict[int, int] = field(default_factory=dict)  # user id -> opportunities told


def due_bands(resources: Resources, now_s: float | None = None) -> list[tuple[str, str, int]]:
    """Every watched band whose sweep of the current period has not been done yet."""
    period = period_of(time.time() if now_s is None else now_s, resources.settings.watch_period_min)
    wanted = subscriptions.bands(resources.database)
    keys = {sweep_key(g, lv, period) for g, lv in wanted}
    with resources.database.session() as session:
        done = set(session.scalars(select(WatchSweep.sweep_key).where(WatchSweep.sweep_key.in_(keys))))
    return [(g, lv, period) for g, lv in wanted if sweep_key(g, lv, period) not in done]


def _claim(resources: Resources, key: str, game: str, level: str) -> bool:
    """Take the sweep ``key``: False when it is done, or running in a worker that may still be alive.

    A redelivered sweep (its worker died) comes back after the maintenance pool's visibility timeout, which is
    longer than STALE_AFTER, so it takes its own row over; a duplicate queued the same minute finds it fresh.
    """
    try:
        with resources.database.session() as session:
            row = session.scalar(select(WatchSweep).where(WatchSweep.sweep_key == key))
            if row is None:
                session.add(WatchSweep(sweep_key=key, game=game, level=level, status=RUNNING, started_at=utcnow()))
                return True
            if row.status == DONE or utcnow() - row.started_at < STALE_AFTER:
                return False
            log.warning("Watch sweep %s was left running since %s; taking it over", key, row.started_at)
            row.started_at = utcnow()
            return True
    except IntegrityError:  # another worker inserted it a moment ago
        return False


def sweep_band(resources: Resources, game: str, level: str, period: int) -> SweepOutcome:
    """Scan one band once (at background priority) and tell each subscriber what is new above their threshold."""
    key = sweep_key(game, level, period)
    if not _claim(resources, key, game, level):
        return SweepOutcome(key, "skipped")
    watchers = subscriptions.subscribers(resources.database, game, level)
    outcome = SweepOutcome(key, "idle")
    if watchers:
        settings = resources.settings
        floor_bp = min(w.min_profit_bp for w in watchers)
        rules = Rules(LEVELS[level], settings.arbitrage_fee_bp(game), floor_bp)
        market = scan_market(
            resources.dmarket(),
            GAME_IDS[game],
            rules,
            settings.arbitrage_max_pages,
            valuation=Valuation.of(resources, level, background=True),
            background=True,
        )
        outcome.status, outcome.opportunities = "done", len(market.opportunities)
        for watcher in watchers:
            told = notify(resources, key, watcher, market.opportunities)
            if told:
                outcome.notified[watcher.user_id] = told
        log.info(
            "Watch sweep %s: %d opportunities, %d of %d subscribers told",
            key,
            len(market.opportunities),
            len(outcome.notified),
            len(watchers),
        )
    with resources.database.session() as session:
        row = session.scalar(select(WatchSweep).where(WatchSweep.sweep_key == key))
        if row is not None:
            row.status, row.finished_at = DONE, utcnow()
            row.opportunities, row.notified_users = outcome.opportunities, len(outcome.notified)
    return outcome


def _is_new(opportunity: Opportunity, recent: list[WatchNotification]) -> bool:
    """Not told within the cooldown: neither this item, nor this title at the same or a lower price."""
    return not any(
        n.item_id == opportunity.item_id or (n.title == opportunity.title and opportunity.price_cents >= n.price_cents)
        for n in recent
    )


def notify(resources: Resources, key: str, watcher: Subscription, found: list[Opportunity]) -> int:
    """Choose (or, after a redelivery, re-read) what ``watcher`` is told in sweep ``key``, then send it once."""
    cooldown = timedelta(minutes=resources.settings.watch_cooldown_min)
    with resources.database.session() as session:
        mine = list(
            session.scalars(
                select(WatchNotification).where(
                    WatchNotification.sweep_key == key, WatchNotification.user_id == watcher.user_id
                )
            )
        )
        if mine:
            chosen = sorted((_opportunity_of(n) for n in mine), key=rank_key)
        else:
            above = [o for o in found if o.profit_bp >= watcher.min_profit_bp]
            recent = list(
                session.scalars(
                    select(WatchNotification).where(
                        WatchNotification.user_id == watcher.user_id,
                        WatchNotification.game == watcher.game,
                        WatchNotification.sent_at >= utcnow() - cooldown,
                        WatchNotification.title.in_({o.title for o in above}),
                    )
                )
            )
            chosen = [o for o in above if _is_new(o, recent)]
            session.add_all(_notification(key, watcher, o) for o in chosen)
    if not chosen:
        return 0
    try:
        sender = resources.telegram()
    except TelegramNotConfigured:
        log.info("TELEGRAM_BOT_TOKEN is not set: watch notifications of %s are only stored", key)
        return len(chosen)
    text = messages.notification_text(
        resources.settings.bot_language, watcher.game, watcher.level, watcher.min_profit_bp, chosen
    )
    outbox.deliver(sender, resources.database, f"watch:{key}:{watcher.user_id}", watcher.chat_id, text)
    return len(chosen)


def _notification(key: str, watcher: Subscription, o: Opportunity) -> WatchNotification:
    return WatchNotification(
        sweep_key=key,
        user_id=watcher.user_id,
        game=watcher.game,
        item_id=o.item_id,
        title=o.title[:512],
        price_cents=o.price_cents,
        profit_cents=o.profit_cents,
        profit_bp=o.profit_bp,
        basis=o.basis,
        resale_cents=o.resale_price_cents,
        sales_used=o.sales_used,
        window_days=o.window_days,
        liquidity=o.liquidity,
        sent_at=utcnow(),
    )


def _opportunity_of(n: WatchNotification) -> Opportunity:
    return Opportunity(
        item_id=n.item_id,
        title=n.title,
        price_cents=n.price_cents,
        suggested_price_cents=0,
        proceeds_cents=n.price_cents + n.profit_cents,
        profit_cents=n.profit_cents,
        profit_bp=n.profit_bp,
        basis=n.basis,
        resale_cents=n.resale_cents,
        sales_used=n.sales_used,
        window_days=n.window_days,
        liquidity=n.liquidity,
    )
