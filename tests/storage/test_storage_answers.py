"""Answers, failures and the pending messages a restart picks up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from storage import CustomerInfo, Database, MessageNotFoundError, Store, migrations
from storage.models import Base, Message

CountRows = Callable[[type[Base]], Awaitable[int]]

ANN = CustomerInfo(id=7_000_000_001, name="Ann", language="en")
GROUP = -1_001_234_567_890


async def test_record_answer_stores_the_answer_and_marks_the_message_answered(
    store: Store,
) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "where is my parcel?", 10)

    answer = await store.record_answer(question.id, "😐 It left the depot today.", 11)

    assert answer.role == "assistant"
    assert answer.status == "answered"
    assert (answer.chat_id, answer.customer_id) == (GROUP, ANN.id)
    assert answer.text == "😐 It left the depot today."
    assert answer.telegram_message_id == 11
    assert answer.created_at >= question.created_at
    stored_question = await store.get_message(question.id)
    assert stored_question is not None
    assert stored_question.status == "answered"
    assert await store.get_message(answer.id) == answer


async def test_record_answer_twice_keeps_the_first_answer(
    store: Store, count_rows: CountRows
) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)
    first = await store.record_answer(question.id, "hello", 11)

    second = await store.record_answer(question.id, "hello again", 12)

    assert second == first
    assert await count_rows(Message) == 2


async def test_a_failed_message_can_still_be_answered(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)
    await store.mark_failed(question.id, "timeout")

    await store.record_answer(question.id, "hello", 11)

    stored = await store.get_message(question.id)
    assert stored is not None
    assert stored.status == "answered"


async def test_record_answer_refuses_unknown_messages_and_answers(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)
    answer = await store.record_answer(question.id, "hello", 11)

    with pytest.raises(MessageNotFoundError):
        await store.record_answer(question.id + 1000, "hello", None)
    with pytest.raises(ValueError, match="is an answer"):
        await store.record_answer(answer.id, "hello", None)


async def test_mark_failed_leaves_the_pending_list(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)

    await store.mark_failed(question.id, "Telegram answered 500")

    stored = await store.get_message(question.id)
    assert stored is not None
    assert stored.status == "failed"
    assert await store.pending_messages() == []


async def test_mark_failed_does_not_undo_an_answer(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)
    await store.record_answer(question.id, "hello", 11)

    await store.mark_failed(question.id, "late error report")

    stored = await store.get_message(question.id)
    assert stored is not None
    assert stored.status == "answered"


async def test_mark_failed_on_an_unknown_message_raises(store: Store) -> None:
    with pytest.raises(MessageNotFoundError):
        await store.mark_failed(12345, "gone")


async def test_pending_messages_survive_a_crash(db: Database, database_url: str) -> None:
    before_crash = Store(db)
    answered, _ = await before_crash.record_incoming(GROUP, ANN, "answered", 1)
    await before_crash.record_answer(answered.id, "done", 2)
    first, _ = await before_crash.record_incoming(GROUP, ANN, "first unanswered", 3)
    second, _ = await before_crash.record_incoming(ANN.id, ANN, "second unanswered", 4)
    # No close(): the process died. A new process opens the same database.

    restarted = Database(database_url)
    await restarted.connect()
    try:
        await migrations.upgrade(restarted)
        after_restart = Store(restarted)
        pending = await after_restart.pending_messages()
        assert pending == [first, second]

        for message in pending:
            await after_restart.record_answer(message.id, "sorry for the wait", None)
        assert await after_restart.pending_messages() == []
    finally:
        await restarted.close()


async def test_pending_messages_of_one_chat_leave_other_chats_out(store: Store) -> None:
    first, _ = await store.record_incoming(GROUP, ANN, "first", 1)
    await store.record_incoming(ANN.id, ANN, "private", 2)
    second, _ = await store.record_incoming(GROUP, ANN, "second", 3)
    answered, _ = await store.record_incoming(GROUP, ANN, "answered", 4)
    await store.record_answer(answered.id, "done", 5)

    assert await store.pending_messages(GROUP) == [first, second]
