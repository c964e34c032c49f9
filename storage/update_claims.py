"""Claims of Telegram updates: with several bot processes behind one webhook balancer, each
may receive the same update; the first to store its claim handles it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from storage.database import Database
from storage.insert_or_ignore import insert_or_ignore
from storage.models import UpdateClaim
from storage.transaction import transaction


class UpdateClaims:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def claim(self, key: str, at: datetime) -> bool:
        """True for the one process that claims `key` first."""
        async with transaction(self._database) as session:
            return await insert_or_ignore(session, UpdateClaim, {"key": key, "claimed_at": at})

    async def forget_before(self, before: datetime) -> int:
        """Drop claims older than `before` (Telegram delivers no update that late); how many."""
        async with transaction(self._database) as session:
            result = await session.execute(
                delete(UpdateClaim).where(UpdateClaim.claimed_at < before)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
