"""Answers on their way to Telegram: planned parts, each delivered part's id, the placeholder."""

from __future__ import annotations

import pytest

from storage import CustomerInfo, MessageNotFoundError, PlannedPart, Store

ANN = CustomerInfo(id=7_000_000_001, name="Ann", language="en")
GROUP = -1_001_234_567_890


async def test_a_planned_answer_records_each_part_as_it_is_delivered(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "tell me everything", 10)
    assert await store.answer_delivery(question.id) is None

    planned = await store.plan_answer(question.id, "😐 one two  three", ["😐 one", "two", "three"])
    await store.record_part_delivered(question.id, 0, 41)
    await store.record_part_delivered(question.id, 1, 42)

    assert planned.text == "😐 one two  three"
    assert [part.telegram_message_id for part in planned.parts] == [None, None, None]
    stored = await store.answer_delivery(question.id)
    assert stored is not None
    assert stored.text == "😐 one two  three"
    assert stored.parts == (
        PlannedPart(0, "😐 one", 41),
        PlannedPart(1, "two", 42),
        PlannedPart(2, "three", None),
    )


async def test_planning_again_keeps_the_first_plan_and_what_was_delivered(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)
    await store.plan_answer(question.id, "😐 first", ["😐 fir", "st"])
    await store.record_part_delivered(question.id, 0, 41)

    again = await store.plan_answer(question.id, "😄 a different answer", ["😄 a different answer"])

    assert again.text == "😐 first"
    assert again.parts == (PlannedPart(0, "😐 fir", 41), PlannedPart(1, "st", None))


async def test_a_placeholder_is_kept_until_taken_back_and_survives_the_plan(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)

    await store.record_placeholder(question.id, 77)
    started = await store.answer_delivery(question.id)
    await store.plan_answer(question.id, "😐 hello", ["😐 hello"])
    planned = await store.answer_delivery(question.id)
    await store.record_placeholder(question.id, None)
    taken_back = await store.answer_delivery(question.id)

    assert started is not None and (started.text, started.placeholder_telegram_id) == (None, 77)
    assert started.parts == ()
    assert planned is not None and (planned.text, planned.placeholder_telegram_id) == (
        "😐 hello",
        77,
    )
    assert taken_back is not None and taken_back.placeholder_telegram_id is None


async def test_deliveries_go_with_a_forgotten_customer(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)
    await store.record_placeholder(question.id, 77)
    await store.plan_answer(question.id, "😐 hello", ["😐 hello"])

    await store.forget_customer(ANN.id)

    assert await store.answer_delivery(question.id) is None
    with pytest.raises(MessageNotFoundError):
        await store.record_part_delivered(question.id, 0, 41)
    with pytest.raises(MessageNotFoundError):
        await store.plan_answer(question.id, "😐 hello", ["😐 hello"])


async def test_an_answer_without_parts_is_refused(store: Store) -> None:
    question, _ = await store.record_incoming(GROUP, ANN, "hi", 10)

    with pytest.raises(ValueError, match="no parts"):
        await store.plan_answer(question.id, "", [])
