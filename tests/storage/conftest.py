"""Every storage test runs on a SQLite file and, when the local server answers, on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from sqlalchemy import Connection, MetaData, func, select
from sqlalchemy.exc import SQLAlchemyError

from storage import Database, StorageError, Store
from storage.migrations import upgrade
from storage.models import Base

POSTGRES_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
POSTGRES_TIMEOUT_S = 2.0

CountRows = Callable[[type[Base]], Awaitable[int]]


async def _postgres_admin(statement: str) -> None:
    admin = Database(f"{POSTGRES_SERVER}/test", connect_timeout=POSTGRES_TIMEOUT_S)
    await admin.connect()
    try:
        # CREATE and DROP DATABASE refuse to run inside a transaction.
        autocommit = admin.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own, so that concurrent runs cannot disturb each other."""
    name = f"moodbot_storage_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    except (StorageError, SQLAlchemyError) as exc:
        pytest.skip(f"no PostgreSQL to test with (user postgres, {POSTGRES_TIMEOUT_S} s): {exc}")
    yield f"{POSTGRES_SERVER}/{name}"
    asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'moodbot.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def drop_everything(connection: Connection) -> None:
    """Drop every table in the database, whichever schema version made it."""
    found = MetaData()
    found.reflect(connection)
    found.drop_all(connection)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A connected database with a fresh schema, emptied again afterwards."""
    database = Database(database_url)
    await database.connect()
    async with database.engine.begin() as connection:
        await connection.run_sync(drop_everything)
    await upgrade(database)
    yield database
    async with database.engine.begin() as connection:
        await connection.run_sync(drop_everything)
    await database.close()


@pytest.fixture
def store(db: Database) -> Store:
    return Store(db)


@pytest.fixture
def count_rows(db: Database) -> CountRows:
    async def count(model: type[Base]) -> int:
        async with db.session() as session:
            return await session.scalar(select(func.count()).select_from(model)) or 0

    return count
