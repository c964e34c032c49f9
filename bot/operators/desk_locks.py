"""One desk action for a customer at a time, in this process and across the processes sharing
its database: opening their topic and writing into it, an operator's message to them, and the
delivery of the bot's answer to them (which must not come after an operator's message)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.chat_order import ChatLocks
from storage.customer_lock import CustomerLockAcrossProcesses


class DeskLocks:
    def __init__(self, across_processes: CustomerLockAcrossProcesses) -> None:
        # Keyed by customer id here; the lock across processes serves no ordering of its own.
        self._here = ChatLocks()
        self._across_processes = across_processes

    @asynccontextmanager
    async def hold(self, customer_id: int) -> AsyncIterator[None]:
        async with self._here.hold(customer_id), self._across_processes.hold(customer_id):
            yield
