"""The desk across several bot processes and restarts: claims of updates taken on, stored
approval edit requests, one rating request per conversation.

Revision ID: 0006_desk_safety
Revises: 0005_desk
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_desk_safety"
down_revision = "0005_desk"
branch_labels = None
depends_on = None

# The customer's last message before each request, then NULL on every request but the first
# of one conversation (two processes may have asked twice), so that the constraint holds.
BACKFILL_LAST_MESSAGE = """
UPDATE ratings SET last_message_id = (
    SELECT max(messages.id) FROM messages
    WHERE messages.chat_id = ratings.chat_id
      AND messages.customer_id = ratings.customer_id
      AND messages.role = 'user'
      AND messages.created_at <= ratings.asked_at
)
"""
ONE_REQUEST_PER_CONVERSATION = """
UPDATE ratings SET last_message_id = NULL
WHERE last_message_id IS NOT NULL AND id NOT IN (
    SELECT min(id) FROM ratings WHERE last_message_id IS NOT NULL
    GROUP BY chat_id, customer_id, last_message_id
)
"""


def upgrade() -> None:
    op.create_table(
        "update_claims",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_update_claims"),
    )
    op.create_index("ix_update_claims_claimed_at", "update_claims", ["claimed_at"])
    op.create_table(
        "approval_edits",
        sa.Column("desk_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "desk_chat_id", "thread_id", "operator_id", name="pk_approval_edits"
        ),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name="fk_approval_edits_approval_id_approvals",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_approval_edits_approval_id", "approval_edits", ["approval_id"])
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("last_message_id", sa.Integer(), nullable=True))
    op.execute(BACKFILL_LAST_MESSAGE)
    op.execute(ONE_REQUEST_PER_CONVERSATION)
    with op.batch_alter_table("ratings") as batch:
        batch.create_unique_constraint(
            "uq_ratings_chat_id_customer_id_last_message_id",
            ["chat_id", "customer_id", "last_message_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("ratings") as batch:
        batch.drop_constraint("uq_ratings_chat_id_customer_id_last_message_id", type_="unique")
        batch.drop_column("last_message_id")
    op.drop_table("approval_edits")
    op.drop_table("update_claims")
