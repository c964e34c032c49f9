"""The per-chat lock that bot processes sharing one PostgreSQL database take turns by."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from storage.chat_lock import ChatLockAcrossProcesses

CHAT = 7201
OTHER = -1001234567890  # a supergroup: ids beyond 32 bits must work as keys


@pytest.fixture
async def two_processes(postgres_url: str) -> AsyncIterator[tuple[ChatLockAcrossProcesses, ...]]:
    # Each with its own connections, as two processes would have.
    locks = (ChatLockAcrossProcesses(postgres_url), ChatLockAcrossProcesses(postgres_url))
    for lock in locks:
        await lock.connect()
    yield locks
    for lock in locks:
        await lock.close()


async def holds_within(lock: ChatLockAcrossProcesses, chat_id: int, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds), lock.hold(chat_id):
            return True
    except TimeoutError:
        return False


@pytest.mark.postgres
async def test_a_chat_is_held_by_one_process_at_a_time(
    two_processes: tuple[ChatLockAcrossProcesses, ...],
) -> None:
    first, second = two_processes
    async with first.hold(CHAT):
        assert not await holds_within(second, CHAT, 0.3)
        # Other chats go on meanwhile.
        assert await holds_within(second, OTHER, 2.0)
    assert await holds_within(second, CHAT, 2.0)


@pytest.mark.postgres
async def test_a_holder_that_fails_lets_the_chat_go(
    two_processes: tuple[ChatLockAcrossProcesses, ...],
) -> None:
    first, second = two_processes
    with pytest.raises(RuntimeError):
        async with first.hold(CHAT):
            raise RuntimeError("the answer failed")
    assert await holds_within(second, CHAT, 2.0)


async def test_sqlite_has_one_process_and_no_lock() -> None:
    lock = ChatLockAcrossProcesses("sqlite+aiosqlite:///unused.db")
    await lock.connect()
    assert not lock.across_processes
    async with lock.hold(CHAT), lock.hold(CHAT):
        pass
    await lock.close()
