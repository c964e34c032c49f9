"""Who waits for a person: hand-offs, unanswered takeovers, pending approvals."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from storage import CustomerInfo, Store
from storage.approvals import Approvals
from storage.database import Database
from storage.desk import Conversation, DeskStore
from storage.desk_queue import waiting_for_a_person
from storage.models import Message

ANN = CustomerInfo(id=7_300_000_001, name="Ann")
BO = CustomerInfo(id=7_300_000_002, name="Bo")
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


async def test_hand_offs_takeovers_and_approvals_wait_until_a_person_acts(
    db: Database, store: Store
) -> None:
    desk = DeskStore(db)
    handed, _ = await store.record_incoming(ANN.id, ANN, "warranty?", 1)
    await store.set_mood(handed.id, "neutral", 0.6)
    async with db.session() as session, session.begin():
        await session.execute(
            update(Message).where(Message.id == handed.id).values(needs_human=True)
        )
    drafted, _ = await store.record_incoming(BO.id, BO, "sad", 1)
    await store.set_mood(drafted.id, "negative", 0.9)
    approval = await Approvals(db).draft(drafted.id, "😢 sorry", T0)

    waiting = await waiting_for_a_person(db)
    assert [(item.customer_id, item.reasons) for item in waiting] == [
        (BO.id, ("approval",)),
        (ANN.id, ("handed off",)),
    ]

    await Approvals(db).decide(approval.id, "sent", 1, "😢 sorry", T0)
    # Decided, but not delivered yet (a crash in between): it still waits, until delivered.
    assert [(item.customer_id, item.reasons) for item in await waiting_for_a_person(db)] == [
        (BO.id, ("approval",)),
        (ANN.id, ("handed off",)),
    ]
    await store.record_answer(drafted.id, "😢 sorry", 2)
    ann = Conversation(ANN.id, ANN.id)
    await desk.record_operator_message(ann, 1, "Two years.", 2, T0)
    await desk.take_over(ann, 1, T0)
    assert await waiting_for_a_person(db) == []

    again, _ = await store.record_incoming(ANN.id, ANN, "and abroad?", 3)
    await desk.leave_to_the_team(again.id)
    assert [(item.text, item.reasons) for item in await waiting_for_a_person(db)] == [
        ("and abroad?", ("taken over",))
    ]


async def test_equally_negative_conversations_wait_in_arrival_order(
    db: Database, store: Store
) -> None:
    for customer in (BO, ANN):
        message, _ = await store.record_incoming(customer.id, customer, "sad", 1)
        await store.set_mood(message.id, "negative", 0.9)
        await Approvals(db).draft(message.id, "😢 sorry", T0)

    assert [item.customer_id for item in await waiting_for_a_person(db)] == [BO.id, ANN.id]


async def test_a_waiting_conversation_has_its_newest_messages_intent_an_operators_winning(
    db: Database, store: Store
) -> None:
    for customer, intent in ((ANN, ("returns", 0.8)), (BO, None)):
        message, _ = await store.record_incoming(customer.id, customer, "sad", 1)
        await store.set_mood(message.id, "negative", 0.9, intent=intent)
        await Approvals(db).draft(message.id, "😢 sorry", T0)
    later, _ = await store.record_incoming(ANN.id, ANN, "and the invoice?", 2)
    await store.set_mood(later.id, "neutral", 0.6, intent=("payment", 0.7))
    await Approvals(db).draft(later.id, "😐 here", T0)

    waiting = {item.customer_id: item.intent for item in await waiting_for_a_person(db)}
    assert waiting == {ANN.id: "payment", BO.id: None}

    await store.correct_intent(later.id, "product", 7)
    await store.correct_intent(later.id, "returns", 8)
    waiting = {item.customer_id: item.intent for item in await waiting_for_a_person(db)}
    assert waiting == {ANN.id: "returns", BO.id: None}
