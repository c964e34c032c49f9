"""Databases as moodbot created them before Alembic (schema_info version 1), for the tests of
their upgrade. The DDL is frozen in tests/data/schema_v1_<dialect>.sql."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from storage import Database

DATA = Path(__file__).resolve().parent / "data"


def v1_statements(dialect: str) -> list[str]:
    sql = (DATA / f"schema_v1_{dialect}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    return [statement.strip() for statement in body.split(";") if statement.strip()]


def v1_timestamp(dialect: str, iso: str) -> str:
    """A timestamp literal as moodbot 0.1 stored it: naive UTC on SQLite."""
    return f"'{iso}.000000'" if dialect == "sqlite" else f"'{iso}+00'"


async def create_v1_database(database: Database, rows: Sequence[str] = ()) -> None:
    """The schema of moodbot 0.1 with its schema_info row, then `rows` (SQL INSERTs, with
    `{t0}` standing for 2026-03-01 09:30:00 UTC in the dialect's form)."""
    dialect = database.engine.dialect.name
    t0 = v1_timestamp(dialect, "2026-03-01 09:30:00")
    async with database.engine.begin() as connection:
        for statement in v1_statements(dialect):
            await connection.exec_driver_sql(statement)
        await connection.exec_driver_sql("INSERT INTO schema_info (id, version) VALUES (1, 1)")
        for row in rows:
            await connection.exec_driver_sql(row.format(t0=t0))
        if dialect == "postgresql":
            # Rows that chose their ids leave the sequences behind; moodbot's own never did.
            for table in ("messages", "conversation_resets", "mood_corrections"):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
