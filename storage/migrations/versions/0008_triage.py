"""Triage: what each customer message wants (its intent and the model's confidence), and the
operators' intent corrections beside the model's.

Revision ID: 0008_triage
Revises: 0007_desk_knowledge
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_triage"
down_revision = "0007_desk_knowledge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("intent", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("intent_confidence", sa.Double(), nullable=True))
    op.create_index("ix_messages_intent_created_at", "messages", ["intent", "created_at"])
    op.create_table(
        "intent_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_intent_corrections"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_intent_corrections_message_id_messages",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_intent_corrections_message_id", "intent_corrections", ["message_id"])


def downgrade() -> None:
    op.drop_table("intent_corrections")
    op.drop_index("ix_messages_intent_created_at", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("intent_confidence")
        batch.drop_column("intent")
