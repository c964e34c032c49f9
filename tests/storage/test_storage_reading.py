"""On SQLite, transactions that only read begin deferred: a long report never holds the write
lock that the bot's writes (in this process or another) wait for."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from storage import CustomerInfo, Database, Store, migrations
from storage.customer_export import export_customer
from storage.models import Message
from storage.mood_log import MoodFilter, MoodLog
from storage.mood_stats import daily_moods, most_negative_customers
from storage.transaction import read_transaction

ANN = CustomerInfo(id=7_000_000_001, name="Ann", username="ann")


@pytest.fixture
async def sqlite_file(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'moodbot.db'}"
    database = Database(url)
    await database.connect()
    await migrations.upgrade(database)
    await Store(database).record_incoming(ANN.id, ANN, "hello", 1)
    await database.close()
    yield url


@pytest.fixture
async def bot_database(sqlite_file: str) -> AsyncIterator[Database]:
    database = Database(sqlite_file)
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
async def report_database(sqlite_file: str) -> AsyncIterator[Database]:
    """The same file opened apart, as `moodbot report` in another process does."""
    database = Database(sqlite_file)
    await database.connect()
    yield database
    await database.close()


async def test_a_write_goes_through_while_another_connection_reads(
    bot_database: Database, report_database: Database
) -> None:
    store = Store(bot_database)
    async with read_transaction(report_database) as session:
        before = await session.scalar(select(Message.text))
        started = time.perf_counter()
        # With the write lock held by the reader, this would wait out busy_timeout and fail.
        message, _ = await store.record_incoming(ANN.id, ANN, "written meanwhile", 2)
        took = time.perf_counter() - started
        # The reader keeps the snapshot it began with.
        assert await session.scalar(select(Message.id).order_by(Message.id.desc())) != message.id
    assert before == "hello"
    assert took < 1.0
    assert (await store.get_message(message.id)) == message


Read = Callable[[Database], Awaitable[Any]]
READS: dict[str, Read] = {
    "mood log entries": lambda db: MoodLog(db).entries(MoodFilter()),
    "mood log page": lambda db: MoodLog(db).page(MoodFilter(), 0, 10),
    "customer by username": lambda db: MoodLog(db).customer_id_by_username("ann"),
    "daily moods": lambda db: daily_moods(db, date(2024, 5, 1), date(2024, 5, 7), ZoneInfo("UTC")),
    "unhappy customers": lambda db: most_negative_customers(
        db, datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 8, tzinfo=UTC), 5
    ),
    "customer export": lambda db: export_customer(db, ANN.id),
    "history": lambda db: Store(db).history(ANN.id, ANN.id, 10),
    "pending messages": lambda db: Store(db).pending_messages(),
    "recent moods": lambda db: Store(db).recent_moods(ANN.id),
    "get message": lambda db: Store(db).get_message(1),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
async def test_reads_begin_deferred(report_database: Database, read: Read) -> None:
    begun: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.upper().startswith("BEGIN"):
            begun.append(statement.upper())

    engine = report_database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await read(report_database)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert begun and set(begun) == {"BEGIN"}


async def test_writes_still_begin_immediate(bot_database: Database) -> None:
    begun: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.upper().startswith("BEGIN"):
            begun.append(statement.upper())

    event.listen(bot_database.engine.sync_engine, "before_cursor_execute", record)
    await Store(bot_database).set_mood(1, "neutral", 0.5)
    assert begun == ["BEGIN IMMEDIATE"]
