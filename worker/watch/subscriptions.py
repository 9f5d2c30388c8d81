"""Watch subscriptions in the database: add (capped per user), list, remove, and who watches which band."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from common.db.database import Database
from common.db.models import WatchSubscription


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription as plain values; ``n`` is its 1-based place in the user's list (what /unwatch takes)."""

    n: int
    user_id: int
    chat_id: int
    game: str
    level: str
    min_profit_bp: int


@dataclass(frozen=True, slots=True)
class Added:
    status: str  # added | updated | cap
    subscription: Subscription | None
    count: int  # the user's subscriptions after the call


def _listed(rows: list[WatchSubscription]) -> list[Subscription]:
    ordered = sorted(rows, key=lambda r: r.id)
    return [Subscription(n, r.user_id, r.chat_id, r.game, r.level, r.min_profit_bp) for n, r in enumerate(ordered, 1)]


def of_user(database: Database, user_id: int) -> list[Subscription]:
    with database.session() as session:
        return _listed(list(session.scalars(select(WatchSubscription).where(WatchSubscription.user_id == user_id))))


def add(database: Database, user_id: int, chat_id: int, game: str, level: str, min_profit_bp: int, cap: int) -> Added:
    """Subscribe (or change the threshold of the same band); refused past ``cap`` subscriptions."""
    try:
        with database.session() as session:
            rows = list(session.scalars(select(WatchSubscription).where(WatchSubscription.user_id == user_id)))
            same = next((r for r in rows if (r.game, r.level) == (game, level)), None)
            status = "updated"
            if same is None:
                if len(rows) >= cap:
                    return Added("cap", None, len(rows))
                same = WatchSubscription(
                    user_id=user_id, chat_id=chat_id, game=game, level=level, min_profit_bp=min_profit_bp
                )
                session.add(same)
                rows.append(same)
                status = "added"
            same.min_profit_bp, same.chat_id = min_profit_bp, chat_id
            session.flush()
            listed = _listed(rows)
            return Added(status, next(s for s in listed if (s.game, s.level) == (game, level)), len(rows))
    except IntegrityError:  # the same band added at the same moment (a redelivered command): it is there now
        listed = of_user(database, user_id)
        return Added("updated", next(s for s in listed if (s.game, s.level) == (game, level)), len(listed))


def remove(database: Database, user_id: int, n: int) -> tuple[Subscription | None, int]:
    """Remove the user's ``n``-th subscription; what was removed (None: no such) and how many there were."""
    with database.session() as session:
        rows = sorted(
            session.scalars(select(WatchSubscription).where(WatchSubscription.user_id == user_id)), key=lambda r: r.id
        )
        if not 1 <= n <= len(rows):
            return None, len(rows)
        removed = _listed(rows)[n - 1]
        session.delete(rows[n - 1])
        return removed, len(rows)


def bands(database: Database) -> list[tuple[str, str]]:
    """Every distinct (game, level) somebody watches."""
    with database.session() as session:
        found = session.execute(select(WatchSubscription.game, WatchSubscription.level).distinct()).all()
        return sorted((game, level) for game, level in found)


def subscribers(database: Database, game: str, level: str) -> list[Subscription]:
    with database.session() as session:
        rows = session.scalars(
            select(WatchSubscription).where(WatchSubscription.game == game, WatchSubscription.level == level)
        )
        return [Subscription(0, r.user_id, r.chat_id, r.game, r.level, r.min_profit_bp) for r in rows]
