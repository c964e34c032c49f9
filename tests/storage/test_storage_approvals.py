"""Approvals: one draft per message, decided once, undone when delivery fails."""

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


async def test_an_undone_decision_can_be_made_again(db: Database, store: Store) -> None:
    approvals = Approvals(db)
    message, _ = await store.record_incoming(ANN.id, ANN, "sad", 1)
    draft = await approvals.draft(message.id, "😢 sorry", T0)
    await approvals.decide(draft.id, "sent", 42, "😢 sorry", T0)
    await approvals.undo(draft.id)

    assert await approvals.decide(draft.id, "discarded", 43, None, T0)
    assert (await approvals.for_message(message.id)).decision == "discarded"  # type: ignore[union-attr]
