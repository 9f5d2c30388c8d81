"""alert pages and the actions taken on them; the outbox keeps a message's buttons and forum topic

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("issue_id", sa.String(length=32), nullable=True),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_thread_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("alert", sa.JSON(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_note", sa.JSON(), nullable=False),
        sa.Column("muted_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_pages")),
        sa.UniqueConstraint("key", name=op.f("uq_alert_pages_key")),
    )
    op.create_index("ix_alert_pages_dedupe", "alert_pages", ["dedupe_key", "window_ends_at"], unique=False)
    op.create_index(op.f("ix_alert_pages_issue_id"), "alert_pages", ["issue_id"], unique=False)
    op.create_table(
        "alert_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["page_id"], ["alert_pages.id"], name=op.f("fk_alert_actions_page_id_alert_pages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_actions")),
    )
    op.create_index(op.f("ix_alert_actions_page_id"), "alert_actions", ["page_id"], unique=False)
    with op.batch_alter_table("telegram_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_markup", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("message_thread_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telegram_outbox", schema=None) as batch_op:
        batch_op.drop_column("message_thread_id")
        batch_op.drop_column("reply_markup")
    op.drop_index(op.f("ix_alert_actions_page_id"), table_name="alert_actions")
    op.drop_table("alert_actions")
    op.drop_index(op.f("ix_alert_pages_issue_id"), table_name="alert_pages")
    op.drop_index("ix_alert_pages_dedupe", table_name="alert_pages")
    op.drop_table("alert_pages")
