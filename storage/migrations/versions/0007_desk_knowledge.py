"""The desk and the facts: the evidence under each answer, operators' wrong-answer flags, and
the facts operators saved from the desk.

Revision ID: 0007_desk_knowledge
Revises: 0006_desk_safety
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_desk_knowledge"
down_revision = "0006_desk_safety"
branch_labels = None
depends_on = None


def _message_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["messages.id"], name=f"fk_{table}_{column}_messages", ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("evidence", sa.Text(), nullable=True))
    op.create_table(
        "answer_flags",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_answer_flags"),
        _message_fk("answer_flags", "message_id"),
    )
    op.create_index("ix_answer_flags_flagged_at", "answer_flags", ["flagged_at"])
    op.create_table(
        "desk_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("question_message_id", sa.Integer(), nullable=False),
        sa.Column("answer_message_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_by", sa.BigInteger(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_desk_facts"),
        _message_fk("desk_facts", "question_message_id"),
        _message_fk("desk_facts", "answer_message_id"),
        sa.UniqueConstraint("answer_message_id", name="uq_desk_facts_answer_message_id"),
    )
    op.create_index("ix_desk_facts_question_message_id", "desk_facts", ["question_message_id"])


def downgrade() -> None:
    op.drop_table("desk_facts")
    op.drop_table("answer_flags")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("evidence")
