"""The schema as moodbot created it before Alembic (its schema_info table says version 1).

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

ROLES = "role IN ('user', 'assistant')"
STATUSES = "status IN ('pending', 'answered', 'failed')"
MOOD_LABELS = "IN ('positive', 'negative', 'neutral')"


def upgrade() -> None:
    op.create_table(
        "schema_info",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schema_info"),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("reply_to_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mood_label", sa.String(16), nullable=True),
        sa.Column("mood_confidence", sa.Double(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint(
            "chat_id", "telegram_message_id", name="uq_messages_chat_id_telegram_message_id"
        ),
        sa.UniqueConstraint("reply_to_id", name="uq_messages_reply_to_id"),
        sa.CheckConstraint(ROLES, name="ck_messages_role"),
        sa.CheckConstraint(STATUSES, name="ck_messages_status"),
        sa.CheckConstraint(f"mood_label {MOOD_LABELS}", name="ck_messages_mood_label"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_messages_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reply_to_id"],
            ["messages.id"],
            name="fk_messages_reply_to_id_messages",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_messages_customer_id_created_at", "messages", ["customer_id", "created_at"])
    op.create_index("ix_messages_mood_label_created_at", "messages", ["mood_label", "created_at"])
    op.create_index("ix_messages_status", "messages", ["status"])
    op.create_table(
        "conversation_resets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_resets"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_conversation_resets_customer_id_customers",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_conversation_resets_customer_id_chat_id",
        "conversation_resets",
        ["customer_id", "chat_id", "created_at"],
    )
    op.create_table(
        "mood_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mood_corrections"),
        sa.CheckConstraint(f"label {MOOD_LABELS}", name="ck_mood_corrections_label"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_mood_corrections_message_id_messages",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_mood_corrections_message_id", "mood_corrections", ["message_id"])
    op.bulk_insert(
        sa.table("schema_info", sa.column("id", sa.Integer()), sa.column("version", sa.Integer())),
        [{"id": 1, "version": 1}],
    )


def downgrade() -> None:
    op.drop_table("mood_corrections")
    op.drop_table("conversation_resets")
    op.drop_table("messages")
    op.drop_table("customers")
    op.drop_table("schema_info")
