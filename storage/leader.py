"""One bot process leads the timed jobs (the daily digest, the idle checks): the one holding a
PostgreSQL advisory lock on a connection it keeps open. When it stops or dies, its connection
goes, and with it the lock: the next process to run a timed job takes over."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.customer_lock import CUSTOMER_LOCKS
from storage.errors import StorageError

log = logging.getLogger(__name__)

# A key of its own in the two-key space (see storage.customer_lock).
TIMED_JOBS = (CUSTOMER_LOCKS + 1, 0)


class TimedJobsLeader:
    def __init__(self, url: str) -> None:
        self.url = url
        # A SQLite database serves one process, which leads by itself.
        self._across_processes = url.lower().startswith("postgresql")
        self._engine: AsyncEngine | None = None
        self._held: AsyncConnection | None = None

    async def leading(self) -> bool:
        """Whether this process leads, taking the lead when nobody has it."""
        if not self._across_processes:
            return True
        try:
            if self._held is not None:
                if await self._alive(self._held):
                    return True
                log.warning("lost the lead of the timed jobs with the database connection")
                await self._drop()
            return await self._try_to_lead()
        except Exception as exc:
            raise StorageError(f"cannot tell who leads the timed jobs: {exc}") from exc

    async def _alive(self, connection: AsyncConnection) -> bool:
        try:
            await connection.execute(text("SELECT 1"))
            await connection.commit()
        except Exception:
            return False
        return True

    async def _try_to_lead(self) -> bool:
        if self._engine is None:
            self._engine = create_async_engine(
                self.url, pool_size=1, max_overflow=0, hide_parameters=True
            )
        connection = await self._engine.connect()
        try:
            took = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:space, :key)"),
                {"space": TIMED_JOBS[0], "key": TIMED_JOBS[1]},
            )
            # A session lock outlasts the transaction; the connection must not idle in one.
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not took:
            await connection.close()
            return False
        log.info("this process leads the timed jobs")
        self._held = connection
        return True

    async def _drop(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            try:
                await held.close()
            except Exception as exc:
                log.info("closing a lost lead connection failed: %s", exc)

    async def close(self) -> None:
        await self._drop()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
