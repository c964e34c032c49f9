"""Scratch databases on the local PostgreSQL server, for tests that run on it when it answers.

Without a server those tests are skipped, unless MOODBOT_REQUIRE_POSTGRES is set (CI sets it):
then they fail. `python -m tests.postgres` says whether the server answers (exit status 1 and
why, if not), for CI to check before the tests start.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.exc import SQLAlchemyError

from storage import Database, StorageError

POSTGRES_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
POSTGRES_TIMEOUT_S = 2.0
REQUIRE_ENV = "MOODBOT_REQUIRE_POSTGRES"


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


@contextmanager
def scratch_postgres_database(purpose: str) -> Iterator[str]:
    """The URL of a new database of this caller's own, so that concurrent runs cannot disturb
    each other; dropped afterwards. Skips the test when no server answers."""
    name = f"moodbot_{purpose}_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    except (StorageError, SQLAlchemyError) as exc:
        reason = f"no PostgreSQL to test with (user postgres, {POSTGRES_TIMEOUT_S} s): {exc}"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{reason}; {REQUIRE_ENV} is set, so the PostgreSQL tests must run")
        pytest.skip(reason)
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    try:
        asyncio.run(_postgres_admin("SELECT 1"))
    except (StorageError, SQLAlchemyError) as exc:
        print(
            f"PostgreSQL does not answer at {POSTGRES_SERVER}/test (user postgres, trust auth): "
            f"{exc}\nThe PostgreSQL tests (several bot processes on one database among them) "
            "would not run.",
            file=sys.stderr,
        )
        return 1
    print(f"PostgreSQL answers at {POSTGRES_SERVER}/test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
