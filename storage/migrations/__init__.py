"""The schema's history as Alembic revisions (versions/), and bringing a database up to date.

The revisions ship inside the package, so an installed moodbot finds them. A database created
before Alembic carries its version in a schema_info table instead (version 1, the first
revision); it is recognised and stamped, so its rows are kept as they are. On SQLite, where
altering a table means copying it, foreign keys are off while revisions run (dropping the old
copy would otherwise delete the rows that refer to it) and checked before the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from storage.database import Database, redact_url
from storage.errors import StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
# What a database created before Alembic is, by the version in its schema_info table.
PRE_ALEMBIC_REVISIONS = {1: "0001_initial"}
# Any number will do, as long as no other part of moodbot takes the same advisory lock.
_POSTGRES_MIGRATION_LOCK = 0x6D6F6F64


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None  # None: no moodbot schema yet
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


class SchemaOutdated(StorageError):
    """The database is not at the schema this moodbot uses, and may not be upgraded now."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        # Two branches each added a revision on the same parent: one must be rebased.
        raise StorageError(f"the schema's history has {len(heads)} heads ({', '.join(heads)})")
    return heads[0]


async def status(database: Database) -> SchemaStatus:
    """Where the database stands; a pre-Alembic one counts as the revision it matches."""
    try:
        async with database.turn(), database.engine.connect() as connection:
            current = await connection.run_sync(_current_revision, redact_url(database.url))
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema of {redact_url(database.url)}: {exc}") from exc
    return SchemaStatus(current, head_revision())


async def upgrade(database: Database) -> list[str]:
    """Bring the database to the head revision; returns the revisions applied, oldest first.
    Safe at every start, and from several processes at once."""
    head = head_revision()
    try:
        async with database.turn(), database.engine.connect() as connection:
            return await connection.run_sync(_upgrade, redact_url(database.url), head)
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot upgrade the schema of {redact_url(database.url)}: {exc}"
        ) from exc


async def require_current(database: Database) -> None:
    """Raise SchemaOutdated unless the database is at the head revision."""
    found = await status(database)
    if found.up_to_date:
        return
    where = "has no moodbot schema" if found.current is None else f"is at {found.current}"
    raise SchemaOutdated(
        f"database {redact_url(database.url)} {where}; this moodbot needs {found.head}: "
        "run `moodbot migrate` (or let the bot upgrade it: database.auto_migrate = true)"
    )


async def prepare(database: Database, *, auto_migrate: bool) -> None:
    """At start: upgrade the database when allowed, else insist that it is current."""
    if not auto_migrate:
        await require_current(database)
        return
    applied = await upgrade(database)
    if applied:
        log.info("database %s upgraded: %s", redact_url(database.url), " → ".join(applied))


def _current_revision(connection: Connection, where: str) -> str | None:
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None:
        return current
    tables = set(inspect(connection).get_table_names())
    if "schema_info" in tables:
        version = connection.scalar(text("SELECT version FROM schema_info"))
        if version not in PRE_ALEMBIC_REVISIONS:
            raise StorageError(
                f"database {where} has schema_info version {version}, which no moodbot revision "
                f"matches (known: {', '.join(map(str, PRE_ALEMBIC_REVISIONS))})"
            )
        return PRE_ALEMBIC_REVISIONS[version]
    if tables & {"customers", "messages"}:
        raise StorageError(
            f"database {where} has moodbot's tables but no record of their version "
            "(neither alembic_version nor schema_info); restore it from a backup"
        )
    return None


def _upgrade(connection: Connection, where: str, head: str) -> list[str]:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys(connection, on=False)
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Two bot processes starting together take turns; the second finds it done.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_MIGRATION_LOCK}
                )
            applied = _run_revisions(connection, where, head)
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise StorageError(
                        f"upgrading {where} would break {len(broken)} foreign keys "
                        f"(first: {tuple(broken[0])}); nothing was changed"
                    )
        return applied
    finally:
        if sqlite:
            _foreign_keys(connection, on=True)


def _run_revisions(connection: Connection, where: str, head: str) -> list[str]:
    current = _current_revision(connection, where)
    if current == head:
        return []
    config = alembic_config()
    config.attributes["connection"] = connection
    script = ScriptDirectory.from_config(config)
    if MigrationContext.configure(connection).get_current_revision() is None and current:
        # A pre-Alembic database: its tables are that revision already.
        command.stamp(config, current)
    command.upgrade(config, head)
    return [
        revision.revision
        for revision in reversed(list(script.iterate_revisions(head, current or "base")))
    ]


def _foreign_keys(connection: Connection, *, on: bool) -> None:
    # Only outside a transaction does SQLite change this, so past SQLAlchemy's own BEGIN.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()
