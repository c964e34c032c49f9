"""One short transaction on a database, with driver errors turned into StorageError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.errors import ConstraintError, StorageError


@asynccontextmanager
async def transaction(database: Database) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction, committed on leaving; never leaks a driver's exception."""
    try:
        async with database.turn(), database.session() as session, session.begin():
            yield session
    except IntegrityError as exc:
        raise ConstraintError(f"database constraint violated: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"database operation failed: {exc}") from exc
