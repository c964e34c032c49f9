"""The mood log: the model's moods, operators' corrections and recent moods."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.vocabulary import MoodLabel
from storage import CustomerInfo, Database, MessageNotFoundError, Store
from storage.models import MoodCorrection

ANN = CustomerInfo(id=7_000_000_001, name="Ann", language="en")
BO = CustomerInfo(id=7_000_000_002, name="波", language="zh")
GROUP = -1_001_234_567_890
OPERATOR = 5_000_000_001


async def test_set_mood_is_stored_on_the_message(store: Store) -> None:
    message, _ = await store.record_incoming(GROUP, ANN, "love it", 1)

    await store.set_mood(message.id, "positive", 0.93)

    stored = await store.get_message(message.id)
    assert stored is not None
    assert (stored.mood_label, stored.mood_confidence) == ("positive", 0.93)


@pytest.mark.parametrize(("label", "confidence"), [("angry", 0.9), ("negative", 1.5)])
async def test_set_mood_refuses_unknown_labels_and_odd_confidences(
    store: Store, label: Any, confidence: float
) -> None:
    message, _ = await store.record_incoming(GROUP, ANN, "hmm", 1)

    with pytest.raises(ValueError, match="mood"):
        await store.set_mood(message.id, label, confidence)


async def test_set_mood_on_an_unknown_message_raises(store: Store) -> None:
    with pytest.raises(MessageNotFoundError):
        await store.set_mood(999, "neutral", 0.5)


async def test_recent_moods_are_newest_first_per_customer(store: Store) -> None:
    labels: list[MoodLabel] = ["positive", "negative", "neutral", "negative"]
    for n, label in enumerate(labels):
        message, _ = await store.record_incoming(GROUP, ANN, f"ann {n}", n)
        await store.set_mood(message.id, label, 0.8)
    await store.record_incoming(GROUP, ANN, "not classified yet", 100)
    other, _ = await store.record_incoming(GROUP, BO, "波", 200)
    await store.set_mood(other.id, "positive", 0.99)

    recent = await store.recent_moods(ANN.id, limit=3)

    assert [message.text for message in recent] == ["ann 3", "ann 2", "ann 1"]
    assert [message.mood_label for message in recent] == ["negative", "neutral", "negative"]


async def test_a_correction_keeps_the_models_label_beside_it(store: Store, db: Database) -> None:
    message, _ = await store.record_incoming(GROUP, ANN, "great, broken again", 1)
    await store.set_mood(message.id, "positive", 0.7)

    await store.correct_mood(message.id, "negative", OPERATOR)

    stored = await store.get_message(message.id)
    assert stored is not None
    assert stored.mood_label == "positive"
    async with db.session() as session:
        corrections = (await session.scalars(select(MoodCorrection))).all()
    assert [(c.message_id, c.label, c.operator_id) for c in corrections] == [
        (message.id, "negative", OPERATOR)
    ]
