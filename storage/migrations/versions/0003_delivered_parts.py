"""Answers on their way to Telegram and each part's delivery, so a crash never re-sends a part.

Revision ID: 0003_delivered_parts
Revises: 0002_alembic_versions
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_delivered_parts"
down_revision = "0002_alembic_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_deliveries",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("placeholder_telegram_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name="pk_answer_deliveries"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_answer_deliveries_message_id_messages",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "delivered_parts",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", "position", name="pk_delivered_parts"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["answer_deliveries.message_id"],
            name="fk_delivered_parts_message_id_answer_deliveries",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("delivered_parts")
    op.drop_table("answer_deliveries")
