"""Several bot processes on one database store the desk's records once: a conversation's rating
request, a takeover, a topic and an update's claim, whichever process comes first, and none of
the others fails for having come second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from storage import CustomerInfo, Store
from storage.database import Database
from storage.desk import Conversation, DeskStore
from storage.models import DeskTopic, Rating, Takeover, UpdateClaim
from storage.ratings import Ratings
from storage.update_claims import UpdateClaims
from tests.storage.conftest import CountRows

ANN = CustomerInfo(id=7_500_000_001, name="Ann")
DESK = -1_009_000_000_002
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
# As many "processes" as it takes for read-then-insert to collide.
PROCESSES = 8
T = TypeVar("T")


@pytest.fixture
async def processes(db: Database) -> AsyncIterator[list[Database]]:
    """Connections of their own to the test's database, one per process."""
    connected = [Database(db.url) for _ in range(PROCESSES)]
    for database in connected:
        await database.connect()
    yield connected
    for database in connected:
        await database.close()


async def at_once(processes: list[Database], act: Callable[[Database], Awaitable[T]]) -> list[T]:
    return list(await asyncio.gather(*(act(database) for database in processes)))


async def test_a_conversation_is_asked_for_a_rating_once(
    store: Store, processes: list[Database], count_rows: CountRows
) -> None:
    await store.record_incoming(ANN.id, ANN, "hi", 1)

    asked = await at_once(
        processes, lambda db: Ratings(db).ask(ANN.id, ANN.id, "idle", T0 + timedelta(hours=2))
    )

    assert len([rating for rating in asked if rating is not None]) == 1
    assert await count_rows(Rating) == 1


async def test_a_conversation_is_taken_over_once(
    store: Store, processes: list[Database], count_rows: CountRows
) -> None:
    await store.record_incoming(ANN.id, ANN, "hi", 1)
    conversation = Conversation(ANN.id, ANN.id)

    taken = await at_once(processes, lambda db: DeskStore(db).take_over(conversation, 900_001, T0))

    assert taken.count(True) == 1
    assert await count_rows(Takeover) == 1


async def test_a_customer_has_one_topic(
    store: Store, processes: list[Database], count_rows: CountRows
) -> None:
    await store.record_incoming(ANN.id, ANN, "hi", 1)

    await at_once(processes, lambda db: DeskStore(db).save_topic(DESK, ANN.id, 11, "Ann", T0))

    assert await count_rows(DeskTopic) == 1


async def test_an_update_is_claimed_by_one_process(
    processes: list[Database], count_rows: CountRows
) -> None:
    claimed = await at_once(processes, lambda db: UpdateClaims(db).claim("message:-100:7", T0))

    assert claimed.count(True) == 1
    assert await count_rows(UpdateClaim) == 1
    assert await UpdateClaims(processes[0]).claim("message:-100:8", T0)


async def test_old_claims_are_forgotten(processes: list[Database], count_rows: CountRows) -> None:
    claims = UpdateClaims(processes[0])
    await claims.claim("button:old", T0)
    await claims.claim("button:new", T0 + timedelta(days=3))

    assert await claims.forget_before(T0 + timedelta(days=1)) == 1
    assert await count_rows(UpdateClaim) == 1
