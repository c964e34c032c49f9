"""A PostgreSQL advisory lock per key, for bot processes sharing one database.

Held in a transaction on a dedicated connection, so whatever ends the holder (an error, a
cancelled task, a dead process or connection) releases it with the transaction. A SQLite
database serves one process, which orders its work by itself: there the lock is no lock.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.database import redact_url
from storage.errors import StorageError

# Keys one process holds (or waits for) at once; each takes a connection of its own.
LOCK_CONNECTIONS = 32


class AdvisoryLockAcrossProcesses(ABC):
    """Each kind of lock (chats, customers' desk actions) has connections of its own, so that
    holding one kind never leaves the other waiting for a connection."""

    # What is locked, for error messages.
    what = "key"

    def __init__(self, url: str) -> None:
        self.url = url
        self.across_processes = url.lower().startswith("postgresql")
        self._engine: AsyncEngine | None = None
        # The pool would give up on a waiter after its timeout; keys queue here instead.
        self._connections = asyncio.Semaphore(LOCK_CONNECTIONS)

    @abstractmethod
    def statement(self, key: int) -> tuple[TextClause, dict[str, Any]]:
        """The statement that waits for and takes the lock of `key` in a transaction."""

    async def connect(self) -> None:
        if self.across_processes and self._engine is None:
            self._engine = create_async_engine(
                self.url,
                pool_size=LOCK_CONNECTIONS,
                max_overflow=0,
                pool_pre_ping=True,
                hide_parameters=True,
            )

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[None]:
        """Wait until no other process holds `key`, and keep it until the block ends."""
        if not self.across_processes:
            yield
            return
        if self._engine is None:
            raise StorageError(f"database {redact_url(self.url)} is not connected")
        async with self._connections, self._engine.begin() as connection:
            try:
                await connection.execute(*self.statement(key))
            except Exception as exc:
                raise StorageError(f"{self.what} {key}: could not take its lock: {exc}") from exc
            yield
