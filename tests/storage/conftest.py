"""Every storage test runs on a SQLite file and, when the local server answers, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from sqlalchemy import Connection, MetaData, func, select

from storage import Database, Store
from storage.migrations import upgrade
from storage.models import Base
from tests.postgres import scratch_postgres_database

CountRows = Callable[[type[Base]], Awaitable[int]]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database("storage_test") as url:
        yield url


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
