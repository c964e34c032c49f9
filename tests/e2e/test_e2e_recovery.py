"""Restarts: what was stored but not answered is answered once, and nothing is answered twice."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from bench.fake_telegram import FakeTelegram
from bot.config import DatabaseConfig
from bot.service import BotService
from engine.mood_engine import MoodEngine
from storage import CustomerInfo, Database, Store, migrations
from storage.migrations import SchemaOutdated
from tests.e2e.support import (
    ANSWER_TIMEOUT,
    SpyEngine,
    answers_by_question,
    bot_config,
    rows_at,
    running,
    wait_for_status,
)
from tests.e2e.test_e2e_conversation import expected_history
from tests.schema_v1 import create_v1_database


async def test_pending_messages_are_answered_once_in_order_after_a_restart(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customer = 801
    fake.add_user(customer)
    texts = [f"question {n} before the crash" for n in range(3)]
    # The crashed bot stored these but never confirmed the updates, so Telegram delivers
    # them again on top of the stored, pending copies.
    message_ids = [fake.send_text(customer, customer, body) for body in texts]
    database = Database(database_url)
    await database.connect()
    await migrations.upgrade(database)
    store = Store(database)
    for body, message_id in zip(texts, message_ids, strict=True):
        info = CustomerInfo(customer, f"User {customer}", language="en")
        await store.record_incoming(customer, info, body, message_id)
    await database.close()

    spy = SpyEngine(tiny_engine)
    async with running(bot_config(fake, database_url), spy) as service:
        fake.send_text(customer, customer, "a question after the restart")
        chat_rows = await wait_for_status(service.database, customer, 4)

    pairs = answers_by_question(chat_rows)
    assert [q.text for q, _ in pairs] == [*texts, "a question after the restart"]
    assert [message.text for message in fake.messages(customer)] == [a.text for _, a in pairs]
    assert len(spy.calls) == 4
    for turn, (question, _) in enumerate(pairs):
        assert spy.history_for(question.text) == expected_history(pairs[:turn])
    assert fake.pending_updates() == []


@pytest.mark.parametrize("chat_id", [811, -812], ids=["private", "group"])
async def test_answers_interrupted_by_a_stop_are_given_once_after_the_restart(
    fake: FakeTelegram,
    database_url: str,
    endless_engine: MoodEngine,
    tiny_engine: MoodEngine,
    chat_id: int,
) -> None:
    customer = 813 if chat_id < 0 else chat_id
    texts = ["Tell me a long story", "and then another one", "and a third"]
    config = bot_config(fake, database_url)
    async with running(config, endless_engine):
        for text in texts:
            body, entities = fake.mention_bot(text)
            fake.send_text(chat_id, customer, body, entities=entities)
        await fake.wait_for(lambda: fake.drafts(chat_id) or fake.messages(chat_id), ANSWER_TIMEOUT)

    # The stop abandoned the first answer and stored the two waiting behind it.
    stored = await rows_at(database_url, chat_id)
    assert [(row.text, row.status) for row in stored] == [(text, "pending") for text in texts]
    assert fake.messages(chat_id) == [], fake.dump()

    async with running(config, tiny_engine) as service:
        pairs = answers_by_question(await wait_for_status(service.database, chat_id, len(texts)))
        assert [q.text for q, _ in pairs] == texts
        assert [m.text for m in fake.messages(chat_id)] == [a.text for _, a in pairs]


async def test_redelivered_update_of_an_answered_message_is_not_answered_again(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customer = 821
    user = fake.add_user(customer, first_name="Ann")
    config = bot_config(fake, database_url)
    async with running(config, tiny_engine) as service:
        asked = fake.send_text(customer, customer, "where is my parcel?")
        await wait_for_status(service.database, customer, 1)

    # Telegram never got the confirmation and delivers the same message to the next run.
    chat = {"id": customer, "type": "private", "first_name": "Ann"}
    message = {"message_id": asked, "from": user, "chat": chat, "date": int(time.time())}
    fake.inject_update({"message": {**message, "text": "where is my parcel?"}})
    async with running(config, tiny_engine) as service:
        # The chat's updates are handled in order: once this is answered, so was the copy.
        fake.send_text(customer, customer, "hello?")
        chat_rows = await wait_for_status(service.database, customer, 2)

    pairs = answers_by_question(chat_rows)
    assert [q.text for q, _ in pairs] == ["where is my parcel?", "hello?"]
    assert [m.text for m in fake.messages(customer)] == [a.text for _, a in pairs]


async def test_a_customer_who_blocked_the_bot_is_not_retried_forever(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customer = 861
    fake.add_user(customer)
    async with running(bot_config(fake, database_url), tiny_engine) as service:
        fake.block_bot(customer)
        fake.send_text(customer, customer, "thanks, bye")
        [row] = [
            row
            for row in await wait_for_status(service.database, customer, 1, status="failed")
            if row.role == "user"
        ]
    assert row.failure_reason is not None and "blocked" in row.failure_reason.lower()
    assert fake.messages(customer) == []


async def test_a_database_of_the_previous_version_is_upgraded_at_start_and_its_messages_answered(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customer = 821
    fake.add_user(customer)
    # Stored by the previous version, which stopped before answering it.
    telegram_id = fake.send_text(customer, customer, "are you open on sundays?")
    legacy = Database(database_url)
    await legacy.connect()
    await create_v1_database(
        legacy,
        [
            "INSERT INTO customers (id, name, username, language, first_seen, last_seen) "
            f"VALUES ({customer}, 'User {customer}', NULL, 'en', {{t0}}, {{t0}})",
            "INSERT INTO messages (chat_id, customer_id, role, text, telegram_message_id, "
            f"created_at, status) VALUES ({customer}, {customer}, 'user', "
            f"'are you open on sundays?', {telegram_id}, {{t0}}, 'pending')",
        ],
    )
    await legacy.close()

    async with running(bot_config(fake, database_url), tiny_engine) as service:
        rows = await wait_for_status(service.database, customer, 1)
        found = await migrations.status(service.database)

    assert found.up_to_date
    [(question, answer)] = answers_by_question(rows)
    assert question.text == "are you open on sundays?"
    assert [message.text for message in fake.messages(customer)] == [answer.text]


async def test_without_auto_migrate_an_outdated_database_stops_the_start(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    legacy = Database(database_url)
    await legacy.connect()
    await create_v1_database(legacy)
    await legacy.close()
    config = bot_config(fake, database_url)
    strict = replace(config, database=DatabaseConfig(url=database_url, auto_migrate=False))

    service = BotService(strict, tiny_engine)
    try:
        with pytest.raises(SchemaOutdated, match=r"is at 0001_initial.*moodbot migrate"):
            await service.start()
    finally:
        await service.stop()
    assert fake.calls_to("getUpdates") == []
