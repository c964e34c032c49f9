"""Database: SQLite settings, UTC datetimes, URL errors and redaction (the schema itself:
test_storage_migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from storage import CustomerInfo, Database, StorageError, Store, migrations, redact_url
from storage.models import Customer

ANN = CustomerInfo(id=7_000_000_001, name="Ann Lee", username="ann", language="en")


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'bot.db'}")
    await database.connect()
    try:
        async with database.engine.connect() as connection:
            settings = {
                pragma: (await connection.exec_driver_sql(f"PRAGMA {pragma}")).scalar()
                for pragma in ("journal_mode", "busy_timeout", "foreign_keys")
            }
    finally:
        await database.close()
    assert settings == {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1}
    assert (tmp_path / "nested" / "dir" / "bot.db").exists()


async def test_a_rolled_back_transaction_leaves_nothing(db: Database) -> None:
    async with db.session() as session:
        session.add(Customer(id=ANN.id, name=ANN.name))
        await session.flush()
        await session.rollback()

    async with db.session() as session:
        assert await session.get(Customer, ANN.id) is None


async def test_in_memory_sqlite_works() -> None:
    database = Database("sqlite+aiosqlite://")
    await database.connect()
    try:
        await migrations.upgrade(database)
        store = Store(database)
        message, _ = await store.record_incoming(1, ANN, "hi", 1)
        assert await store.get_message(message.id) == message
    finally:
        await database.close()


async def test_datetimes_read_back_aware_in_utc(db: Database) -> None:
    shanghai = timezone(timedelta(hours=8))
    first_seen = datetime(2024, 2, 29, 23, 30, 15, 123456, tzinfo=shanghai)
    async with db.session() as session, session.begin():
        session.add(Customer(id=ANN.id, name=ANN.name, first_seen=first_seen))

    async with db.session() as session:
        customer = await session.get(Customer, ANN.id)
        assert customer is not None
        assert customer.first_seen.tzinfo == UTC
        assert customer.first_seen == first_seen
        assert customer.first_seen.hour == 15
        assert datetime.now(UTC) - customer.last_seen < timedelta(minutes=1)
        in_query = await session.scalar(select(func.max(Customer.first_seen)))
    assert in_query is not None
    assert in_query == first_seen


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with db.session() as session, session.begin():
            session.add(Customer(id=ANN.id, name=ANN.name, first_seen=datetime(2024, 1, 1)))


async def test_session_before_connect_is_a_storage_error() -> None:
    database = Database("sqlite+aiosqlite://")
    with pytest.raises(StorageError, match="not connected"):
        database.session()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "unusable database URL"),
        ("nosuchdb+driver://admin:s3cret@host/db", "unusable database URL"),
        ("sqlite:///sync-driver.db", "unusable database URL"),
        ("postgresql+asyncpg://admin:s3cret@127.0.0.1:1/db", "cannot connect"),
    ],
)
async def test_bad_urls_raise_storage_error_with_the_redacted_url(url: str, problem: str) -> None:
    database = Database(url, connect_timeout=5)
    with pytest.raises(StorageError, match=problem) as raised:
        await database.connect()
    assert "s3cret" not in str(raised.value)
    assert redact_url(url) in str(raised.value)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "postgresql+asyncpg://bot:p%40ss%2Fw0rd@db.example:5432/moodbot",
            "postgresql+asyncpg://bot:***@db.example:5432/moodbot",
        ),
        (
            "postgresql+asyncpg://bot@db.example/moodbot",
            "postgresql+asyncpg://bot@db.example/moodbot",
        ),
        (
            "sqlite+aiosqlite:///var/lib/moodbot/bot.db",
            "sqlite+aiosqlite:///var/lib/moodbot/bot.db",
        ),
        ("postgresql://bot:p@ss@db.example/moodbot", "postgresql://bot:***@db.example/moodbot"),
        ("postgresql://:s3cret@db.example/moodbot", "postgresql://:***@db.example/moodbot"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
