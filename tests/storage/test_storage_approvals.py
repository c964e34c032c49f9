"""Approvals: one draft per message, decided once; an operator's request to edit one."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import CustomerInfo, Store
from storage.approvals import Approvals
from storage.database import Database

ANN = CustomerInfo(id=7_200_000_001, name="Ann")
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


async def test_a_draft_is_stored_once_and_decided_once(db: Database, store: Store) -> None:
    approvals = Approvals(db)
    message, _ = await store.record_incoming(ANN.id, ANN, "sad", 1)
    first = await approvals.draft(message.id, "😢 sorry", T0)
    again = await approvals.draft(message.id, "😢 another", T0)

    assert again == first
    assert await approvals.decide(first.id, "edited", 42, "😢 better", T0)
    assert not await approvals.decide(first.id, "sent", 43, "😢 sorry", T0)
    decided = await approvals.get(first.id)
    assert decided is not None
    assert (decided.decision, decided.operator_id, decided.sent_text) == ("edited", 42, "😢 better")


async def test_an_edit_request_is_stored_taken_once_and_replaced_by_a_later_one(
    db: Database, store: Store
) -> None:
    approvals = Approvals(db)
    first_message, _ = await store.record_incoming(ANN.id, ANN, "sad", 1)
    second_message, _ = await store.record_incoming(ANN.id, ANN, "sadder", 2)
    first = await approvals.draft(first_message.id, "😢 sorry", T0)
    second = await approvals.draft(second_message.id, "😢 so sorry", T0)

    await approvals.request_edit(-100_5, 7, 42, first.id)
    await approvals.request_edit(-100_5, 7, 42, second.id)
    await approvals.request_edit(-100_5, 0, 43, first.id)

    taken = await approvals.take_edit_request(-100_5, 7, 42)
    assert taken is not None and taken.id == second.id
    assert await approvals.take_edit_request(-100_5, 7, 42) is None
    assert await approvals.take_edit_request(-100_5, 7, 43) is None
    other = await approvals.take_edit_request(-100_5, 0, 43)
    assert other is not None and other.id == first.id
