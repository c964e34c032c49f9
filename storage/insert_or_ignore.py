"""INSERT … ON CONFLICT DO NOTHING, on whichever database: the row is stored unless a unique
constraint says it is there already, and no process that comes second gets an error for it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import StorageError
from storage.models import Base


async def insert_or_ignore(
    session: AsyncSession, model: type[Base], values: dict[str, Any]
) -> bool:
    """Whether the row was stored (False: a row with the same unique values exists)."""
    result = await session.execute(_statement(session, model, values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_or_ignore_returning(
    session: AsyncSession, model: type[Base], values: dict[str, Any], column: ColumnElement[Any]
) -> Any:
    """`column` of the stored row, or None when a row with the same unique values exists."""
    statement = _statement(session, model, values).returning(column)
    return (await session.execute(statement)).scalar_one_or_none()


def _statement(session: AsyncSession, model: type[Base], values: dict[str, Any]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise StorageError(f"moodbot stores its data in SQLite or PostgreSQL, not {dialect}")
    return insert(model).values(**values).on_conflict_do_nothing()
