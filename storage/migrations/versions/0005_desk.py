"""The operators' desk: forum topics, posts, takeovers, approvals, ratings; operator messages and
keywords on messages.

Revision ID: 0005_desk
Revises: 0004_handoffs
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0005_desk"
down_revision = "0004_handoffs"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('user', 'assistant')"
NEW_ROLES = "role IN ('user', 'assistant', 'operator')"
OLD_STATUSES = "status IN ('pending', 'answered', 'failed')"
NEW_STATUSES = "status IN ('pending', 'answered', 'failed', 'human')"
CHECK_PREFIXES = ("ck_messages_", "ck_messages_ck_messages_")


def _customer_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_id"],
        ["customers.id"],
        name=f"fk_{table}_customer_id_customers",
        ondelete="CASCADE",
    )


def _drop_role_and_status_checks(batch: BatchOperations) -> None:
    """Their names differ by how the database was made (moodbot before Alembic:
    ck_messages_role; revision 0001 under the naming convention: ck_messages_ck_messages_role)."""
    names = {f"{prefix}{column}" for prefix in CHECK_PREFIXES for column in ("role", "status")}
    for check in sa.inspect(op.get_bind()).get_check_constraints("messages"):
        if check["name"] in names:
            batch.drop_constraint(op.f(check["name"]), type_="check")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        _drop_role_and_status_checks(batch)
        batch.create_check_constraint(op.f("ck_messages_role"), sa.text(NEW_ROLES))
        batch.create_check_constraint(op.f("ck_messages_status"), sa.text(NEW_STATUSES))
        batch.add_column(sa.Column("operator_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("keywords", sa.Text(), nullable=True))
    op.create_table(
        "desk_topics",
        sa.Column("desk_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(128), nullable=False),
        sa.Column("titled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("desk_chat_id", "customer_id", name="pk_desk_topics"),
        sa.UniqueConstraint(
            "desk_chat_id", "thread_id", name="uq_desk_topics_desk_chat_id_thread_id"
        ),
        _customer_fk("desk_topics"),
    )
    op.create_table(
        "desk_posts",
        sa.Column("desk_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("desk_chat_id", "telegram_message_id", name="pk_desk_posts"),
        _customer_fk("desk_posts"),
    )
    op.create_index("ix_desk_posts_customer_id", "desk_posts", ["customer_id"])
    op.create_table(
        "takeovers",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "customer_id", name="pk_takeovers"),
        _customer_fk("takeovers"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("draft", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("operator_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.UniqueConstraint("message_id", name="uq_approvals_message_id"),
        sa.CheckConstraint(
            "decision IN ('sent', 'edited', 'discarded')", name="ck_approvals_decision"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_approvals_message_id_messages",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("ended_by", sa.String(16), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ratings"),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
        _customer_fk("ratings"),
    )
    op.create_index("ix_ratings_asked_at", "ratings", ["asked_at"])
    op.create_index("ix_ratings_customer_id", "ratings", ["customer_id"])


def downgrade() -> None:
    op.drop_table("ratings")
    op.drop_table("approvals")
    op.drop_table("takeovers")
    op.drop_table("desk_posts")
    op.drop_table("desk_topics")
    # Rows that only the desk could write would break the old constraints.
    op.execute("DELETE FROM messages WHERE role = 'operator'")
    op.execute("UPDATE messages SET status = 'answered' WHERE status = 'human'")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("keywords")
        batch.drop_column("operator_id")
        _drop_role_and_status_checks(batch)
        batch.create_check_constraint(op.f("ck_messages_role"), sa.text(OLD_ROLES))
        batch.create_check_constraint(op.f("ck_messages_status"), sa.text(OLD_STATUSES))
