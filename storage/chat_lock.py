"""One chat answered at a time across the bot processes that share one PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.database import redact_url
from storage.errors import StorageError

# Chats whose lock one process holds (or waits for) at once; each takes a connection of its own.
LOCK_CONNECTIONS = 32


class ChatLockAcrossProcesses:
    """A PostgreSQL advisory lock per chat, keyed by the chat id.

    Held in a transaction on a dedicated connection, so whatever ends the holder (an error, a
    cancelled task, a dead process or connection) releases it with the transaction. A SQLite
    database serves one process, which orders its chats by itself: there the lock is no lock.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.across_processes = url.lower().startswith("postgresql")
        self._engine: AsyncEngine | None = None
        # The pool would give up on a waiter after its timeout; chats queue here instead.
        self._connections = asyncio.Semaphore(LOCK_CONNECTIONS)

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
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        """Wait until no other process holds the chat, and keep it until the block ends."""
        if not self.across_processes:
            yield
            return
        if self._engine is None:
            raise StorageError(f"database {redact_url(self.url)} is not connected")
        async with self._connections, self._engine.begin() as connection:
            try:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:chat)"), {"chat": chat_id}
                )
            except Exception as exc:
                raise StorageError(f"chat {chat_id}: could not lock the chat: {exc}") from exc
            yield
