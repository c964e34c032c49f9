"""The locks that bot processes sharing one PostgreSQL database take turns by: per chat, per
customer (the desk's actions), and the lead of the timed jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from storage.advisory_lock import AdvisoryLockAcrossProcesses
from storage.chat_lock import ChatLockAcrossProcesses
from storage.customer_lock import CustomerLockAcrossProcesses
from storage.leader import TimedJobsLeader

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


async def holds_within(lock: AdvisoryLockAcrossProcesses, chat_id: int, seconds: float) -> bool:
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


@pytest.mark.postgres
async def test_a_customers_desk_lock_is_not_their_private_chats_lock(postgres_url: str) -> None:
    chats, customers = (
        ChatLockAcrossProcesses(postgres_url),
        CustomerLockAcrossProcesses(postgres_url),
    )
    others = CustomerLockAcrossProcesses(postgres_url)
    for lock in (chats, customers, others):
        await lock.connect()
    try:
        # A private chat's id is its customer's: the answer holds the one, the desk the other.
        async with chats.hold(CHAT):
            assert await holds_within(customers, CHAT, 2.0)
        async with customers.hold(2**40 + CHAT):
            assert not await holds_within(others, 2**40 + CHAT, 0.3)
            assert await holds_within(others, CHAT + 1, 2.0)
    finally:
        for lock in (chats, customers, others):
            await lock.close()


@pytest.mark.postgres
async def test_one_process_leads_the_timed_jobs_until_it_stops(postgres_url: str) -> None:
    first, second = TimedJobsLeader(postgres_url), TimedJobsLeader(postgres_url)
    try:
        assert await first.leading()
        assert not await second.leading()
        assert await first.leading()
        await first.close()
        assert await second.leading()
        assert not await first.leading()
    finally:
        await first.close()
        await second.close()


async def test_on_sqlite_the_one_process_leads() -> None:
    leader = TimedJobsLeader("sqlite+aiosqlite:///unused.db")
    assert await leader.leading()
    await leader.close()
