"""What the desk teaches the bot and learns from it: the evidence stored with an answer,
wrong-answer flags and their error rate, desk facts saved from an operator's answer, and the
handed-off questions the gaps report is made of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import CustomerInfo, Database, MessageNotFoundError, Store
from storage.answer_flags import answer_stats, flag_answer
from storage.customer_export import export_customer
from storage.desk import Conversation, DeskStore
from storage.desk_facts import DeskFacts

ANN = CustomerInfo(id=7_000_000_001, name="Ann", username="ann_k", language="en")
BO = CustomerInfo(id=7_000_000_002, name="波", username=None, language="zh")
T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
OPERATOR = 900_001
CANADA = "We ship within mainland China only."


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def store(db: Database) -> Store:
    return Store(db, clock=lambda: T0)


async def handed_off(store: Store, customer: CustomerInfo, text: str, telegram_id: int) -> int:
    message, _ = await store.record_incoming(customer.id, customer, text, telegram_id)
    await store.mark_handed_off(message.id, "the facts do not answer it", T0)
    return message.id


async def operator_says(db: Database, customer: CustomerInfo, text: str, minutes: int) -> int:
    stored = await DeskStore(db).record_operator_message(
        Conversation(customer.id, customer.id), OPERATOR, text, None, at(minutes)
    )
    return stored.id


async def test_an_answer_keeps_the_statements_it_rests_on(db: Database, store: Store) -> None:
    question, _ = await store.record_incoming(ANN.id, ANN, "Do you ship to Canada?", 1)
    plain, _ = await store.record_incoming(ANN.id, ANN, "thanks!", 2)

    await store.record_answer(question.id, "😐 No, only within China.", 3, (CANADA, "Line two."))
    await store.record_answer(plain.id, "😄 You're welcome!", 4)

    stats = await answer_stats(db, T0, at(1))
    assert (stats.answered, stats.from_facts, stats.flagged, stats.handed_off) == (2, 1, 0, 0)
    exported = await export_customer(db, ANN.id)
    assert exported is not None
    assert [m.evidence for m in exported.messages if m.role == "assistant"] == [
        f"{CANADA}\nLine two.",
        None,
    ]


async def test_a_wrong_answer_flag_counts_once_in_the_error_rate(
    db: Database, store: Store
) -> None:
    first, _ = await store.record_incoming(ANN.id, ANN, "Do you ship to Canada?", 1)
    second, _ = await store.record_incoming(ANN.id, ANN, "Open on Sunday?", 2)
    for message in (first, second):
        await store.record_answer(message.id, "😐 Yes!", None, (CANADA,))
    await handed_off(store, BO, "你们卖洗碗机吗？", 3)

    assert await flag_answer(db, first.id, OPERATOR, at(5))
    assert not await flag_answer(db, first.id, OPERATOR + 1, at(6))

    stats = await answer_stats(db, T0, at(1))
    assert (stats.answered, stats.flagged, stats.handed_off) == (2, 1, 1)
    assert stats.error_rate == pytest.approx(0.5)
    # The period is the customers' messages': none before T0.
    assert (await answer_stats(db, at(-60), T0)).error_rate is None
    with pytest.raises(MessageNotFoundError):
        await flag_answer(db, 10_000, OPERATOR, at(7))


async def test_a_desk_fact_is_saved_once_from_the_operators_answer_and_can_be_removed(
    db: Database, store: Store
) -> None:
    facts = DeskFacts(db)
    question = await handed_off(store, ANN, "Do you sell gift cards?", 1)
    answer = await operator_says(db, ANN, "Yes, gift cards of 100 and 200 yuan.", 3)

    assert await facts.question_answered_by(answer) == question
    saved = await facts.save(question, answer, OPERATOR, at(4))
    assert saved is not None
    assert (saved.question, saved.answer, saved.operator_id) == (
        "Do you sell gift cards?",
        "Yes, gift cards of 100 and 200 yuan.",
        OPERATOR,
    )
    # A second press, in this process or another, saves nothing more.
    assert await facts.save(question, answer, OPERATOR, at(5)) is None
    assert await facts.active() == [saved]

    assert await facts.remove(saved.id, OPERATOR, at(6))
    assert not await facts.remove(saved.id, OPERATOR, at(7))
    assert await facts.active() == []


async def test_only_an_operators_first_message_after_a_hand_off_answers_it(
    db: Database, store: Store
) -> None:
    facts = DeskFacts(db)
    plain, _ = await store.record_incoming(ANN.id, ANN, "hello", 1)
    greeting = await operator_says(db, ANN, "Hi Ann!", 2)
    question = await handed_off(store, ANN, "Do you sell gift cards?", 3)
    first = await operator_says(db, ANN, "Yes, we do.", 4)
    second = await operator_says(db, ANN, "Of 100 and 200 yuan.", 5)

    assert await facts.question_answered_by(greeting) is None
    assert await facts.question_answered_by(first) == question
    assert await facts.question_answered_by(second) is None
    with pytest.raises(ValueError, match="must be a customer's"):
        await facts.save(plain.id + 1, plain.id, OPERATOR, at(6))


async def test_handed_off_questions_say_whether_an_operator_answered_and_saved_them(
    db: Database, store: Store
) -> None:
    facts = DeskFacts(db)
    unanswered = await handed_off(store, BO, "你们卖洗碗机吗？", 1)
    answered = await handed_off(store, ANN, "Do you sell gift cards?", 2)
    reply = await operator_says(db, ANN, "Yes, of 100 yuan.", 3)
    await facts.save(answered, reply, OPERATOR, at(4))
    await store.record_incoming(ANN.id, ANN, "thanks", 5)

    found = await facts.handed_off(T0, at(1))

    assert [(q.message_id, q.text, q.answered, q.saved) for q in found] == [
        (unanswered, "你们卖洗碗机吗？", False, False),
        (answered, "Do you sell gift cards?", True, True),
    ]
    assert await facts.handed_off(at(1), at(2)) == []


async def test_forgetting_the_customer_takes_the_facts_made_of_their_words(
    db: Database, store: Store
) -> None:
    facts = DeskFacts(db)
    question = await handed_off(store, ANN, "Do you sell gift cards?", 1)
    answer = await operator_says(db, ANN, "Yes.", 2)
    await facts.save(question, answer, OPERATOR, at(3))

    await store.forget_customer(ANN.id)

    assert await facts.active() == []
