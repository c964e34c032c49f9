"""The connection to one database: engine, sessions and schema, SQLite or PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import re
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.errors import StorageError

SQLITE_PRAGMAS = ("journal_mode=WAL", "busy_timeout=5000", "foreign_keys=ON")
# The execution option of a connection whose transaction only reads (storage.transaction).
READ_ONLY = "moodbot_read_only"

# Greedy up to the last "@": a password with an unescaped "@" is hidden whole, where a URL
# parser would take its tail for the host name and print it.
_PASSWORD = re.compile(r"(://[^:/@]*:).*@")


def redact_url(url: str) -> str:
    """`url` with its password replaced by ***, fit for logs and error messages."""
    return _PASSWORD.sub(r"\1***@", url, count=1)


class Database:
    """One database reached through an async SQLAlchemy engine.

    `sqlite+aiosqlite:///path.db` by default; `postgresql+asyncpg://user:password@host/db` works
    the same, as nothing here or in the schema is specific to one backend.
    """

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self.url = url
        self._connect_timeout = connect_timeout
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        # SQLite has one writer at a time, and every transaction here begins as the writer.
        # Left to SQLite, waiting writers poll with growing sleeps in no particular order, so
        # under load one can starve past busy_timeout ("database is locked"); queued here they
        # take turns in arrival order, and busy_timeout only covers other processes.
        self._turns = asyncio.Lock() if url.lower().startswith("sqlite") else None

    def turn(self) -> AbstractAsyncContextManager[object]:
        """Hold while running one transaction: the database's turn, where it has turns."""
        return self._turns if self._turns is not None else nullcontext()

    @property
    def engine(self) -> AsyncEngine:
        """The connected engine; raises StorageError before `connect()`."""
        if self._engine is None:
            raise StorageError(f"database {redact_url(self.url)} is not connected")
        return self._engine

    async def connect(self) -> None:
        """Create the engine and check that the database answers; raise StorageError if not."""
        if self._engine is not None:
            return
        engine = _create_engine(self.url)
        try:
            async with asyncio.timeout(self._connect_timeout), engine.connect():
                pass
        except TimeoutError as exc:
            await engine.dispose()
            raise StorageError(
                f"database {redact_url(self.url)} did not answer within {self._connect_timeout} s"
            ) from exc
        # Drivers raise their own exception types on connect (refused, bad password, no such
        # database); each of them means the same to the caller.
        except Exception as exc:
            await engine.dispose()
            raise StorageError(f"cannot connect to database {redact_url(self.url)}: {exc}") from exc
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        """A new session, for `async with`; loaded objects stay readable after commit."""
        if self._sessions is None:
            raise StorageError(f"database {redact_url(self.url)} is not connected")
        return self._sessions()

    async def close(self) -> None:
        """Close every pooled connection; `connect()` may be called again afterwards."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._sessions = None


def _create_engine(url: str) -> AsyncEngine:
    # hide_parameters: driver errors reach the journal, and their bound parameters would carry
    # customers' messages.
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            return _create_sqlite_engine(parsed)
        # Long-lived bots outlive server restarts; a dead pooled connection is replaced unseen.
        return create_async_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        raise StorageError(f"unusable database URL {redact_url(url)}: {exc}") from exc


def _create_sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _connection_record: Any) -> None:
    # The driver would open transactions lazily on its own; _begin_immediate does it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for the write lock: SQLite
    # fails it at once with "database is locked". Taking the lock up front lets busy_timeout
    # queue concurrent writers, and makes read-then-write sequences serializable. A transaction
    # that only reads needs no lock and must not take it from the writers.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
