"""`moodbot migrate`: bring the database's schema up to this moodbot's, and say what changed."""

from __future__ import annotations

from storage import Database, migrations, redact_url


async def migrate(url: str) -> str:
    """Upgrade the database at `url`; the line to print. Raises StorageError."""
    database = Database(url)
    await database.connect()
    try:
        before = await migrations.status(database)
        applied = await migrations.upgrade(database)
    finally:
        await database.close()
    where = f"database {redact_url(url)}"
    if not applied:
        return f"{where}: already at {before.head}, nothing to do"
    start = before.current or "empty"
    return f"{where}: upgraded from {start} through {', '.join(applied)}"
