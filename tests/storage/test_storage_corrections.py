"""Corrected messages for calibration: the latest correction of each message counts."""

from __future__ import annotations

from storage import CustomerInfo, Store
from storage.corrections import CorrectedMessage, corrected_messages
from storage.database import Database

ANN = CustomerInfo(id=7_500_000_001, name="Ann")


async def test_each_corrected_message_once_with_its_latest_label(
    db: Database, store: Store
) -> None:
    first, _ = await store.record_incoming(ANN.id, ANN, "meh", 1)
    second, _ = await store.record_incoming(ANN.id, ANN, "fine", 2)
    await store.record_incoming(ANN.id, ANN, "not corrected", 3)
    for message in (first, second):
        await store.set_mood(message.id, "negative", 0.7)
    await store.correct_mood(first.id, "positive", 1)
    await store.correct_mood(first.id, "neutral", 2)
    await store.correct_mood(second.id, "negative", 1)

    assert await corrected_messages(db) == [
        CorrectedMessage("meh", "negative", "neutral"),
        CorrectedMessage("fine", "negative", "negative"),
    ]
