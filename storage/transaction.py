"""One short transaction on a database, with driver errors turned into StorageError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import READ_ONLY, Database
from storage.errors import ConstraintError, StorageError


@asynccontextmanager
async def transaction(database: Database) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction, committed on leaving; never leaks a driver's exception."""
    async with (
        _translated_errors(),
        database.turn(),
        database.session() as session,
        session.begin(),
    ):
        yield session


@asynccontextmanager
async def read_transaction(database: Database) -> AsyncIterator[AsyncSession]:
    """A transaction that only reads. On SQLite it begins deferred and takes no turn: a long
    report (here or from another process) never holds the write lock the bot's writes wait
    for, and under WAL it sees one consistent snapshot while they go on."""
    async with _translated_errors(), database.session() as session, session.begin():
        await session.connection(execution_options={READ_ONLY: True})
        yield session


@asynccontextmanager
async def _translated_errors() -> AsyncIterator[None]:
    try:
        yield
    except IntegrityError as exc:
        raise ConstraintError(f"database constraint violated: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"database operation failed: {exc}") from exc
