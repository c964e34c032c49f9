"""Hand-offs: a customer's message the facts did not answer is flagged for a colleague.

Revision ID: 0004_handoffs
Revises: 0003_delivered_parts
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_handoffs"
down_revision = "0003_delivered_parts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("needs_human", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("handoff_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("handed_off_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_messages_needs_human", ["needs_human"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_needs_human")
        batch.drop_column("handed_off_at")
        batch.drop_column("handoff_reason")
        batch.drop_column("needs_human")
