"""A crash midway through an answer: the restart sends only what the customer has not seen."""

from __future__ import annotations

import pytest

from bench.fake_telegram import FakeTelegram
from bot.formatting import format_answer, split_message
from bot.telegram_sink import TelegramSink
from engine.vocabulary import MOOD_EMOJI
from storage import AnswerDeliveryRecord, Store
from tests.e2e.support import (
    ANSWER_TIMEOUT,
    ScriptedEngine,
    answers_by_question,
    bot_config,
    running,
    wait_for_async,
    wait_for_status,
)

# Three paragraphs that each fill most of a Telegram message: the answer goes out in 3 parts.
LONG_REPLY = "\n\n".join(letter * 3000 for letter in "abc")
OTHER_REPLY = "an answer the customer must never see"


async def _die_without_cleaning_up(self: TelegramSink) -> None:
    """A process that dies runs no cleanup: no placeholder is taken back, nothing forgotten."""


async def _delivery_with(
    store: Store, message_id: int, delivered: int
) -> AnswerDeliveryRecord | None:
    record = await store.answer_delivery(message_id)
    if record is None:
        return None
    done = [part for part in record.parts if part.telegram_message_id is not None]
    return record if len(done) == delivered else None


async def test_a_multi_part_answer_cut_off_after_its_first_part_is_finished_not_resent(
    fake: FakeTelegram, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = 871
    fake.add_user(customer)
    config = bot_config(fake, database_url)
    monkeypatch.setattr(TelegramSink, "abandon", _die_without_cleaning_up)
    original = Store.record_part_delivered

    async def then_die(self: Store, message_id: int, position: int, telegram_id: int) -> None:
        await original(self, message_id, position, telegram_id)
        # The process dies before the second part: Telegram never gets it from this run.
        fake.fail_next("sendMessage", status=400, description="Bad Request: the process died")

    monkeypatch.setattr(Store, "record_part_delivered", then_die)
    async with running(config, ScriptedEngine(LONG_REPLY, pieces=3)) as service:
        fake.send_text(customer, customer, "tell me everything")
        [question] = await wait_for_status(service.database, customer, 1, status="pending")
        await wait_for_async(
            lambda: _delivery_with(service.store, question.id, 1), what="the first part"
        )
    monkeypatch.setattr(Store, "record_part_delivered", original)
    parts = split_message(format_answer(MOOD_EMOJI["neutral"], LONG_REPLY))
    assert len(parts) == 3
    [first] = fake.messages(customer)
    assert first.text == parts[0]

    async with running(config, ScriptedEngine(OTHER_REPLY)) as service:
        chat_rows = await wait_for_status(service.database, customer, 1)

    [(_, answer)] = answers_by_question(chat_rows)
    sent = fake.messages(customer, include_deleted=True)
    assert [message.text for message in sent] == parts
    assert sent[0].message_id == first.message_id
    assert answer.text == format_answer(MOOD_EMOJI["neutral"], LONG_REPLY)
    assert answer.telegram_message_id == sent[-1].message_id


async def test_a_group_placeholder_left_by_a_crash_becomes_the_answer(
    fake: FakeTelegram, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, customer = -872, 873
    config = bot_config(fake, database_url)
    monkeypatch.setattr(TelegramSink, "abandon", _die_without_cleaning_up)
    slow = ScriptedEngine("never finished " * 40, pieces=40, delay=0.5)
    async with running(config, slow) as service:
        body, entities = fake.mention_bot("where is my parcel?")
        fake.send_text(group, customer, body, entities=entities)
        await fake.wait_for(lambda: fake.messages(group), ANSWER_TIMEOUT)
        [question] = await wait_for_status(service.database, group, 1, status="pending")
        record = await wait_for_async(
            lambda: service.store.answer_delivery(question.id), what="the placeholder"
        )
    monkeypatch.undo()
    [placeholder] = fake.messages(group)
    assert record.placeholder_telegram_id == placeholder.message_id
    assert placeholder.text.endswith("…")

    async with running(config, ScriptedEngine("It left the depot today.")) as service:
        chat_rows = await wait_for_status(service.database, group, 1)

    [(_, answer)] = answers_by_question(chat_rows)
    [message] = fake.messages(group, include_deleted=True)
    assert message.message_id == placeholder.message_id
    assert message.text == format_answer(MOOD_EMOJI["neutral"], "It left the depot today.")
    assert answer.telegram_message_id == placeholder.message_id


async def test_a_group_placeholder_holding_the_first_part_stays_when_the_rest_fails(
    fake: FakeTelegram, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, customer = -874, 875
    config = bot_config(fake, database_url)
    original = Store.record_part_delivered

    async def then_refuse(self: Store, message_id: int, position: int, telegram_id: int) -> None:
        await original(self, message_id, position, telegram_id)
        fake.fail_next("sendMessage", status=400, description="Bad Request: refused")

    monkeypatch.setattr(Store, "record_part_delivered", then_refuse)
    async with running(config, ScriptedEngine(LONG_REPLY, pieces=3)) as service:
        body, entities = fake.mention_bot("tell me everything")
        fake.send_text(group, customer, body, entities=entities)
        [question] = await wait_for_status(service.database, group, 1, status="pending")
        await wait_for_async(
            lambda: _delivery_with(service.store, question.id, 1), what="the first part"
        )
    monkeypatch.undo()
    parts = split_message(format_answer(MOOD_EMOJI["neutral"], LONG_REPLY))
    # The failed answer was given up in this run, but its first part is the customer's to keep.
    [first] = fake.messages(group)
    assert first.text == parts[0]

    async with running(config, ScriptedEngine(OTHER_REPLY)) as service:
        await wait_for_status(service.database, group, 1)

    sent = fake.messages(group, include_deleted=True)
    assert [message.text for message in sent] == parts
    assert sent[0].message_id == first.message_id
