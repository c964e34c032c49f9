"""Alembic's environment for moodbot's revisions.

moodbot runs them on a connection it hands over (storage.migrations.upgrade). From the alembic
command line, for writing a new revision, they run on the database given as
`-x url=sqlite+aiosqlite:///scratch.db` (or in MOODBOT_DATABASE_URL); see the README.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from storage.models import Base
from storage.utc_datetime import UTCDateTime


def render_item(kind: str, item: object, autogen: AutogenContext) -> str | bool:
    # A revision must not depend on moodbot's code, which changes after it is written.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters a table by copying it: autogenerate writes batch operations for that.
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_url(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("moodbot's revisions run on a database; --sql (offline mode) is not supported")
handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    run_migrations(handed_over)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "MOODBOT_DATABASE_URL"
    )
    if not url:
        raise SystemExit(
            "name the database: alembic -x url=sqlite+aiosqlite:///scratch.db … "
            "(or set MOODBOT_DATABASE_URL)"
        )
    asyncio.run(run_on_url(url))
