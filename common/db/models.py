"""SQLAlchemy 2.x models. Every change here ships with an Alembic migration in migrations/versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names, so migrations can drop and alter them on PostgreSQL and SQLite alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend.

    ``DateTime(timezone=True)`` is aware on PostgreSQL only; SQLite hands back naive values, so reports
    would print differently per backend and comparing with an aware time would raise.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing a naive datetime {value.isoformat()}: store aware UTC times")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store the UTC wall time, read back below as UTC.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class Scan(Base):
    """One arbitrage scan requested by a user; keyed by the Celery task id so redelivery cannot duplicate it."""

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    game: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    pages: Mapped[int] = mapped_column(Integer, default=0)
    items_seen: Mapped[int] = mapped_column(Integer, default=0)
    opportunities_found: Mapped[int] = mapped_column(Integer, default=0)
    capped: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # stopped at the page cap
    failure: Mapped[str | None] = mapped_column(String(32))  # the failure kind of a failed scan
    # Listings DMarket sent that could not be read (a field missing or outside what we hold): skipped, counted.
    skipped_listings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    sentry_event_id: Mapped[str | None] = mapped_column(String(32))
    # The bot's "queued" message the result replaces, and how many times a worker started this scan (a
    # redelivery after a worker died, a requeue while Redis was away): bounded, so a scan that kills its
    # worker cannot loop for ever.
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Issue 16: how offers were valued, and what the valuation looked up or had to skip.
    method: Mapped[str] = mapped_column(String(16), default="valuation", server_default="valuation")
    valued_titles: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_valuations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    opportunities: Mapped[list[ScanOpportunity]] = relationship(back_populates="scan", cascade="all, delete-orphan")


class ScanOpportunity(Base):
    """An item listed below what it resells for after fees, found by one scan. Money in integer cents."""

    __tablename__ = "opportunities"
    __table_args__ = (UniqueConstraint("scan_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    suggested_price_cents: Mapped[int] = mapped_column(BigInteger)
    profit_cents: Mapped[int] = mapped_column(BigInteger)
    profit_bp: Mapped[int] = mapped_column(Integer)  # basis points: 1234 = 12.34 %
    # Issue 16: the basis of the value (suggested | instant | listing), the resale price before the fee, and
    # the evidence: sales the median was taken of, their window, liquidity (or buy orders for instant).
    basis: Mapped[str] = mapped_column(String(16), default="suggested", server_default="suggested")
    resale_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    sales_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    window_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    liquidity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    liquidity_saturated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    scan: Mapped[Scan] = relationship(back_populates="opportunities")


class CleanupRun(Base):
    """One run of the Sentry cleanup (CLI, beat or bot), written before it acts."""

    __tablename__ = "cleanup_runs"
    __table_args__ = (Index("ix_cleanup_runs_project_started", "organization", "project", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(64), unique=True)
    trigger: Mapped[str] = mapped_column(String(16))
    organization: Mapped[str] = mapped_column(String(128))
    project: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    execute: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    actions: Mapped[list[CleanupAction]] = relationship(back_populates="run", cascade="all, delete-orphan")


class CleanupAction(Base):
    """One planned or performed action on one Sentry issue, with the issue's JSON snapshot."""

    __tablename__ = "cleanup_actions"
    __table_args__ = (UniqueConstraint("run_id", "issue_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("cleanup_runs.id", ondelete="CASCADE"), index=True)
    issue_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # resolve | delete | skip
    # planned | done | failed | unknown (no answer: may have been applied) | not_attempted | skipped
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(255), default="")
    error: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    run: Mapped[CleanupRun] = relationship(back_populates="actions")


class SentMessage(Base):
    """A Telegram message a task has sent, keyed so a redelivered task edits instead of sending twice."""

    __tablename__ = "sent_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A final message to a user that Telegram did not take at once: retried until delivered or refused.

    ``status``: ``pending`` (to be tried at ``next_attempt_at``), ``sent``, or ``refused`` (Telegram said no
    for good, e.g. the user blocked the bot; ``last_error`` says why). ``edit_message_id``: the message the
    text replaces (the bot's "queued" reply); when it can no longer be edited, the text is sent anew.
    """

    __tablename__ = "telegram_outbox"
    __table_args__ = (Index("ix_telegram_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    edit_message_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    # Inline buttons and forum topic of the message (alert pages carry both); null for plain messages.
    reply_markup: Mapped[dict[str, Any] | None] = mapped_column()
    message_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class AlertPage(Base):
    """One alert page in the alerts chat (docs/alerts.md): a Sentry issue (or metric alert) and its message.

    ``key`` is the short id the page's buttons carry (callback_data <= 64 bytes). ``dedupe_key`` is
    ``issue:<id>`` or ``metric:<digest>``; a repeat within ``window_ends_at`` updates ``repeats`` on this
    page instead of paging again. ``message_id`` is null while the page waits in the Telegram outbox (its
    ``SentMessage`` row under ``outbox_key`` has it once sent). ``muted_until``: Mute 24 h was pressed.
    """

    __tablename__ = "alert_pages"
    __table_args__ = (Index("ix_alert_pages_dedupe", "dedupe_key", "window_ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(16), unique=True)
    dedupe_key: Mapped[str] = mapped_column(String(128))
    issue_id: Mapped[str | None] = mapped_column(String(32), index=True)
    tier: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(32))  # the tier rule that matched (worker/alerts/tiers.py)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    alert: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the latest AlertTask kwargs, for re-rendering
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved | archived
    status_note: Mapped[dict[str, Any]] = mapped_column(default=dict)  # who/what/when of the last change
    muted_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    window_ends_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def outbox_key(self) -> str:
        return f"alert-page:{self.key}"


class AlertAction(Base):
    """A button press on an alert page: who, what, which issue, and what came of it (DESIGN.md §7)."""

    __tablename__ = "alert_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("alert_pages.id", ondelete="CASCADE"), index=True)
    issue_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))  # resolve | archive | mute
    user_id: Mapped[int] = mapped_column(BigInteger)
    user_name: Mapped[str] = mapped_column(String(128), default="")
    result: Mapped[str] = mapped_column(String(16))  # done | refused | failed
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WatchSubscription(Base):
    """/watch: tell ``user_id`` about opportunities of ``game``/``level`` with at least ``min_profit_bp``."""

    __tablename__ = "watch_subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "game", "level"),
        Index("ix_watch_subscriptions_band", "game", "level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    game: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    min_profit_bp: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WatchSweep(Base):
    """One sweep of one band in one period (``sweep_key`` = game:level:period): claimed once, whoever asks."""

    __tablename__ = "watch_sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_key: Mapped[str] = mapped_column(String(64), unique=True)
    game: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    opportunities: Mapped[int] = mapped_column(Integer, default=0)
    notified_users: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class WatchNotification(Base):
    """One opportunity one subscriber was told about in one sweep: the cooldown and the redelivery record."""

    __tablename__ = "watch_notifications"
    __table_args__ = (
        UniqueConstraint("sweep_key", "user_id", "item_id"),
        Index("ix_watch_notifications_recent", "user_id", "game", "title"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(BigInteger)
    game: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    profit_cents: Mapped[int] = mapped_column(BigInteger)
    profit_bp: Mapped[int] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(String(16))
    resale_cents: Mapped[int] = mapped_column(BigInteger)
    sales_used: Mapped[int] = mapped_column(Integer, default=0)
    window_days: Mapped[int] = mapped_column(Integer, default=0)
    liquidity: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
