"""Schema migrations: a database of today's moodbot is upgraded without losing a row, a new one
is built by the revisions alone, and the models never drift from the head revision."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text

from storage import Database, StorageError, Store
from storage.migrations import (
    SchemaOutdated,
    SchemaStatus,
    head_revision,
    require_current,
    status,
    upgrade,
)
from storage.models import Base, ConversationReset, Customer, Message, MoodCorrection
from tests.schema_v1 import create_v1_database
from tests.storage.conftest import drop_everything

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
# The revisions after the pre-Alembic schema and its adoption, oldest first.
LATER_REVISIONS = [
    "0003_delivered_parts",
    "0004_handoffs",
    "0005_desk",
    "0006_desk_safety",
    "0007_desk_knowledge",
    "0008_triage",
]

# Rows of every table, written as moodbot 0.1 wrote them (naive UTC on SQLite).
ROWS = [
    "INSERT INTO customers (id, name, username, language, first_seen, last_seen) VALUES "
    "(5000000001, 'Ann', 'ann_k', 'en', {t0}, {t0}), (5000000002, '波', NULL, 'zh', {t0}, {t0})",
    "INSERT INTO messages (id, chat_id, customer_id, role, text, telegram_message_id, "
    "reply_to_id, created_at, mood_label, mood_confidence, status, failure_reason) VALUES "
    "(1, 5000000001, 5000000001, 'user', 'where is my parcel?', 11, NULL, {t0}, 'negative', "
    "0.93, 'answered', NULL), "
    "(2, 5000000001, 5000000001, 'assistant', '😢 sorry, let me check', 12, 1, {t0}, NULL, NULL, "
    "'answered', NULL), "
    "(3, -100123, 5000000002, 'user', '谢谢！', 13, NULL, {t0}, 'positive', 0.88, 'pending', "
    "NULL), "
    "(4, 5000000001, 5000000001, 'user', 'hello?', 14, NULL, {t0}, NULL, NULL, 'failed', "
    "'Telegram refused the chat: blocked')",
    "INSERT INTO conversation_resets (id, chat_id, customer_id, created_at) VALUES "
    "(1, 5000000001, 5000000001, {t0})",
    "INSERT INTO mood_corrections (id, message_id, label, operator_id, created_at) VALUES "
    "(1, 1, 'neutral', 900001, {t0})",
]


async def build_todays_database(database: Database) -> None:
    """A database exactly as moodbot created and filled it before Alembic."""
    await create_v1_database(database, ROWS)


@pytest.fixture
async def bare(database_url: str) -> AsyncIterator[Database]:
    """A connected database with nothing in it."""
    database = Database(database_url)
    await database.connect()
    async with database.engine.begin() as connection:
        await connection.run_sync(drop_everything)
    yield database
    async with database.engine.begin() as connection:
        await connection.run_sync(drop_everything)
    await database.close()


def _schema_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def schema_diff(database: Database) -> list[object]:
    async with database.engine.connect() as connection:
        return await connection.run_sync(_schema_diff)


async def table_names(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_todays_database_is_upgraded_and_keeps_every_row(bare: Database) -> None:
    await build_todays_database(bare)
    assert (await status(bare)).current == "0001_initial"

    applied = await upgrade(bare)

    assert applied == ["0002_alembic_versions", *LATER_REVISIONS]
    assert await status(bare) == SchemaStatus(head_revision(), head_revision())
    assert "schema_info" not in await table_names(bare)
    async with bare.session() as session:
        customers = (await session.scalars(select(Customer).order_by(Customer.id))).all()
        messages = (await session.scalars(select(Message).order_by(Message.id))).all()
        resets = (await session.scalars(select(ConversationReset))).all()
        corrections = (await session.scalars(select(MoodCorrection))).all()
    assert [(c.id, c.name, c.username, c.language) for c in customers] == [
        (5000000001, "Ann", "ann_k", "en"),
        (5000000002, "波", None, "zh"),
    ]
    assert all(c.first_seen == T0 and c.last_seen == T0 for c in customers)
    assert [
        (m.id, m.chat_id, m.role, m.text, m.telegram_message_id, m.reply_to_id, m.status)
        for m in messages
    ] == [
        (1, 5000000001, "user", "where is my parcel?", 11, None, "answered"),
        (2, 5000000001, "assistant", "😢 sorry, let me check", 12, 1, "answered"),
        (3, -100123, "user", "谢谢！", 13, None, "pending"),
        (4, 5000000001, "user", "hello?", 14, None, "failed"),
    ]
    assert [(m.mood_label, m.mood_confidence) for m in messages] == [
        ("negative", 0.93),
        (None, None),
        ("positive", 0.88),
        (None, None),
    ]
    assert messages[3].failure_reason == "Telegram refused the chat: blocked"
    assert [m.needs_human for m in messages] == [False] * 4
    assert all(m.created_at == T0 for m in messages)
    assert [(r.chat_id, r.customer_id, r.created_at) for r in resets] == [
        (5000000001, 5000000001, T0)
    ]
    assert [(c.message_id, c.label, c.operator_id) for c in corrections] == [(1, "neutral", 900001)]
    # The upgraded database is the models' schema, and works as one.
    assert await schema_diff(bare) == []
    store = Store(bare)
    assert [m.id for m in await store.pending_messages()] == [3]
    answer = await store.record_answer(3, "😄 不客气", 15)
    assert answer.id == 5


async def test_a_new_database_is_built_by_the_revisions_and_matches_the_models(
    bare: Database,
) -> None:
    assert (await status(bare)).current is None

    applied = await upgrade(bare)

    assert applied == ["0001_initial", "0002_alembic_versions", *LATER_REVISIONS]
    assert (await status(bare)).up_to_date
    assert await schema_diff(bare) == []
    assert await table_names(bare) == {*Base.metadata.tables, "alembic_version"}


async def test_upgrading_again_changes_nothing(bare: Database) -> None:
    await upgrade(bare)
    assert await upgrade(bare) == []
    assert (await status(bare)).up_to_date


async def test_the_models_and_the_head_revision_agree(bare: Database) -> None:
    # A model change without a revision shows here as a difference (a new column, say).
    await upgrade(bare)
    async with bare.engine.begin() as connection:
        await connection.exec_driver_sql("ALTER TABLE customers ADD COLUMN nickname VARCHAR(20)")
    assert [diff[0] for diff in await schema_diff(bare)] == ["remove_column"]


async def test_an_outdated_database_is_refused_when_upgrades_are_not_allowed(
    bare: Database,
) -> None:
    with pytest.raises(SchemaOutdated, match=r"has no moodbot schema.*moodbot migrate"):
        await require_current(bare)
    await build_todays_database(bare)
    with pytest.raises(SchemaOutdated, match="is at 0001_initial"):
        await require_current(bare)
    await upgrade(bare)
    await require_current(bare)


async def test_tables_without_a_version_are_not_touched(bare: Database) -> None:
    async with bare.engine.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    with pytest.raises(StorageError, match="no record of their version"):
        await upgrade(bare)
    assert await table_names(bare) == {"customers"}


async def test_an_unknown_pre_alembic_version_is_refused(bare: Database) -> None:
    await build_todays_database(bare)
    async with bare.engine.begin() as connection:
        await connection.execute(text("UPDATE schema_info SET version = 7"))
    with pytest.raises(StorageError, match="schema_info version 7"):
        await upgrade(bare)


BATCH_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "9999_copy_messages"
down_revision = "{head}"


def upgrade():
    # SQLite alters a table by copying it and dropping the original.
    with op.batch_alter_table("messages", recreate="always") as batch:
        batch.alter_column("failure_reason", type_=sa.Text(), existing_nullable=True)
"""


async def test_a_table_copied_on_sqlite_keeps_the_rows_that_refer_to_it(
    bare: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if bare.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL alters tables in place")
    import storage.migrations

    copy = tmp_path / "migrations"
    shutil.copytree(storage.migrations.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__*"))
    (copy / "versions" / "9999_copy_messages.py").write_text(
        BATCH_REVISION.format(head=head_revision()), encoding="utf-8"
    )
    await build_todays_database(bare)
    monkeypatch.setattr(storage.migrations, "MIGRATIONS_DIR", copy)

    assert await upgrade(bare) == [
        "0002_alembic_versions",
        *LATER_REVISIONS,
        "9999_copy_messages",
    ]

    async with bare.session() as session:
        assert len((await session.scalars(select(Message))).all()) == 4
        assert len((await session.scalars(select(MoodCorrection))).all()) == 1
    # Foreign keys are enforced again afterwards.
    async with bare.engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1


async def test_ratings_asked_before_0006_learn_their_conversation_and_duplicates_step_aside(
    bare: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import storage.migrations

    before_0006 = tmp_path / "migrations"
    shutil.copytree(
        storage.migrations.MIGRATIONS_DIR,
        before_0006,
        ignore=shutil.ignore_patterns("__*", "0006_*", "0007_*", "0008_*"),
    )
    with monkeypatch.context() as patched:
        patched.setattr(storage.migrations, "MIGRATIONS_DIR", before_0006)
        await upgrade(bare)
    t1 = "'2026-03-01 10:00:00+00:00'"
    t2 = "'2026-03-01 11:00:00+00:00'"
    async with bare.engine.begin() as connection:
        for statement in [
            "INSERT INTO customers (id, name, first_seen, last_seen) VALUES "
            f"(7, 'Ann', {t1}, {t1})",
            "INSERT INTO messages (id, chat_id, customer_id, role, text, created_at, status, "
            f"needs_human) VALUES (1, 7, 7, 'user', 'hi', {t1}, 'answered', false), "
            f"(2, 7, 7, 'user', 'bye', {t2}, 'answered', false)",
            # Asked after each message, and once more by a second process.
            "INSERT INTO ratings (id, chat_id, customer_id, ended_by, asked_at) VALUES "
            f"(1, 7, 7, 'reset', {t1}), (2, 7, 7, 'idle', {t2}), (3, 7, 7, 'close', {t2})",
        ]:
            await connection.exec_driver_sql(statement)

    assert await upgrade(bare) == ["0006_desk_safety", "0007_desk_knowledge", "0008_triage"]

    async with bare.engine.connect() as connection:
        found = await connection.exec_driver_sql(
            "SELECT id, last_message_id FROM ratings ORDER BY id"
        )
        assert [tuple(row) for row in found] == [(1, 1), (2, 2), (3, None)]
    assert await schema_diff(bare) == []
