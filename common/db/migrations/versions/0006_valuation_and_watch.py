"""valuation basis of opportunities, a scan's method; watch subscriptions, sweeps and notifications

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("method", sa.String(length=16), nullable=False, server_default="valuation"))
        batch_op.add_column(sa.Column("valued_titles", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("skipped_valuations", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis", sa.String(length=16), nullable=False, server_default="suggested"))
        batch_op.add_column(sa.Column("resale_cents", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("sales_used", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("window_days", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("liquidity", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("liquidity_saturated", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "watch_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("game", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("min_profit_bp", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_subscriptions")),
        sa.UniqueConstraint("user_id", "game", "level", name=op.f("uq_watch_subscriptions_user_id")),
    )
    op.create_index("ix_watch_subscriptions_band", "watch_subscriptions", ["game", "level"], unique=False)
    op.create_table(
        "watch_sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_key", sa.String(length=64), nullable=False),
        sa.Column("game", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opportunities", sa.Integer(), nullable=False),
        sa.Column("notified_users", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_sweeps")),
        sa.UniqueConstraint("sweep_key", name=op.f("uq_watch_sweeps_sweep_key")),
    )
    op.create_table(
        "watch_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("game", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("profit_cents", sa.BigInteger(), nullable=False),
        sa.Column("profit_bp", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("resale_cents", sa.BigInteger(), nullable=False),
        sa.Column("sales_used", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("liquidity", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_notifications")),
        sa.UniqueConstraint("sweep_key", "user_id", "item_id", name=op.f("uq_watch_notifications_sweep_key")),
    )
    op.create_index("ix_watch_notifications_recent", "watch_notifications", ["user_id", "game", "title"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_watch_notifications_recent", table_name="watch_notifications")
    op.drop_table("watch_notifications")
    op.drop_table("watch_sweeps")
    op.drop_index("ix_watch_subscriptions_band", table_name="watch_subscriptions")
    op.drop_table("watch_subscriptions")
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        for column in ("liquidity_saturated", "liquidity", "window_days", "sales_used", "resale_cents", "basis"):
            batch_op.drop_column(column)
    with op.batch_alter_table("scans", schema=None) as batch_op:
        for column in ("skipped_valuations", "valued_titles", "method"):
            batch_op.drop_column(column)
