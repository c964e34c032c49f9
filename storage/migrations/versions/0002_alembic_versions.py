"""Alembic's version table replaces schema_info.

Revision ID: 0002_alembic_versions
Revises: 0001_initial
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_alembic_versions"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("schema_info")


def downgrade() -> None:
    op.create_table(
        "schema_info",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schema_info"),
    )
    op.bulk_insert(
        sa.table("schema_info", sa.column("id", sa.Integer()), sa.column("version", sa.Integer())),
        [{"id": 1, "version": 1}],
    )
