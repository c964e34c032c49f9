"""Triage in storage: a message's intent beside its mood, operators' intent corrections, the
mood log's intent filter and the messages and negative share per intent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from storage import CustomerInfo, Database, MessageNotFoundError, Store
from storage.models import IntentCorrection
from storage.mood_log import MoodFilter, MoodLog
from storage.mood_stats import IntentMoods, moods_by_intent
from tests.mood_log_seed import tagged

ANN = CustomerInfo(id=7_000_000_001, name="Ann", username="ann", language="en")
BO = CustomerInfo(id=7_000_000_002, name="波", language="zh")
GROUP = -1_001_234_567_890
OPERATOR = 5_000_000_001
NOW = datetime(2024, 5, 8, 0, 5, tzinfo=UTC)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


async def test_set_mood_stores_the_intent_beside_the_mood(store: Store) -> None:
    message, _ = await store.record_incoming(GROUP, ANN, "I want my money back", 1)
    untouched, _ = await store.record_incoming(GROUP, ANN, "hello", 2)

    await store.set_mood(message.id, "negative", 0.9, intent=("returns", 0.84))
    await store.set_mood(untouched.id, "neutral", 0.6)

    stored = await store.get_message(message.id)
    assert stored is not None
    assert (stored.mood_label, stored.mood_confidence) == ("negative", 0.9)
    assert (stored.intent, stored.intent_confidence) == ("returns", 0.84)
    plain = await store.get_message(untouched.id)
    assert plain is not None
    assert (plain.intent, plain.intent_confidence) == (None, None)


@pytest.mark.parametrize(
    ("intent", "match"),
    [
        (("Returns", 0.9), "not an intent name"),
        (("1st_try", 0.9), "not an intent name"),
        (("r" * 33, 0.9), "not an intent name"),
        (("returns", 1.2), "intent confidence"),
        (("returns", -0.1), "intent confidence"),
    ],
)
async def test_set_mood_refuses_odd_intents(
    store: Store, intent: tuple[str, float], match: str
) -> None:
    message, _ = await store.record_incoming(GROUP, ANN, "hmm", 1)

    with pytest.raises(ValueError, match=match):
        await store.set_mood(message.id, "neutral", 0.5, intent=intent)

    stored = await store.get_message(message.id)
    assert stored is not None
    assert (stored.mood_label, stored.intent) == (None, None), "nothing half-stored"


async def test_an_intent_correction_keeps_the_models_intent_beside_it(
    store: Store, db: Database
) -> None:
    message, _ = await store.record_incoming(GROUP, ANN, "where is it", 1)
    await store.set_mood(message.id, "negative", 0.8, intent=("shipping", 0.55))

    await store.correct_intent(message.id, "order_status", OPERATOR)
    await store.correct_intent(message.id, "returns", OPERATOR + 1)

    stored = await store.get_message(message.id)
    assert stored is not None
    assert (stored.intent, stored.intent_confidence) == ("shipping", 0.55)
    async with db.session() as session:
        corrections = (
            await session.scalars(select(IntentCorrection).order_by(IntentCorrection.id))
        ).all()
    assert [(c.message_id, c.intent, c.operator_id) for c in corrections] == [
        (message.id, "order_status", OPERATOR),
        (message.id, "returns", OPERATOR + 1),
    ]
    assert all(c.created_at.tzinfo is not None for c in corrections)
    [entry] = await MoodLog(db).entries(MoodFilter())
    assert (entry.model_intent, entry.model_intent_confidence) == ("shipping", 0.55)
    assert entry.intent_correction == "returns"
    assert entry.intent == "returns", "the latest correction wins"


@pytest.mark.parametrize("intent", ["Returns", "", "a-b"])
async def test_correct_intent_refuses_odd_names(store: Store, intent: Any) -> None:
    message, _ = await store.record_incoming(GROUP, ANN, "hmm", 1)

    with pytest.raises(ValueError, match="not an intent name"):
        await store.correct_intent(message.id, intent, OPERATOR)


async def test_correct_intent_on_an_unknown_message_raises(store: Store) -> None:
    with pytest.raises(MessageNotFoundError):
        await store.correct_intent(999, "returns", OPERATOR)


async def test_the_mood_log_filters_by_the_effective_intent(db: Database) -> None:
    store = Store(db)
    await tagged(
        db, ANN, "refund please", "negative", 0.9, NOW - timedelta(hours=5), intent=("returns", 0.9)
    )
    moved = await tagged(
        db, BO, "退货", "negative", 0.8, NOW - timedelta(hours=4), intent=("shipping", 0.5)
    )
    taken = await tagged(
        db, ANN, "is it shipped", "neutral", 0.6, NOW - timedelta(hours=3), intent=("returns", 0.6)
    )
    await tagged(db, ANN, "before triage", "negative", 0.9, NOW - timedelta(hours=2))
    await tagged(
        db, BO, "old refund", "negative", 0.9, NOW - timedelta(days=9), intent=("returns", 0.7)
    )
    # An operator moves one message into "returns" and another out of it.
    await store.correct_intent(moved.id, "returns", OPERATOR)
    await store.correct_intent(taken.id, "shipping", OPERATOR)
    mood_log = MoodLog(db)

    async def texts(mood_filter: MoodFilter) -> list[str]:
        return [entry.text for entry in await mood_log.entries(mood_filter)]

    week = NOW - timedelta(days=7)
    assert await texts(MoodFilter(intent="returns")) == ["退货", "refund please", "old refund"]
    assert await texts(MoodFilter(intent="returns", since=week)) == ["退货", "refund please"]
    assert await texts(MoodFilter(intent="returns", customer_id=ANN.id)) == ["refund please"]
    assert await texts(MoodFilter(intent="shipping")) == ["is it shipped"]
    assert await texts(MoodFilter(intent="returns", label="neutral")) == []
    assert await mood_log.count(MoodFilter(intent="returns")) == 3
    assert await mood_log.count(MoodFilter(intent="payment")) == 0
    assert await mood_log.count(MoodFilter()) == 5, "no intent filter: messages without one too"
    page = await mood_log.page(MoodFilter(intent="returns"), 0, 2)
    assert [entry.text for entry in page.entries] == ["退货", "refund please"]
    assert page.total == 3 and page.mood_filter.intent == "returns"


async def test_messages_and_negative_share_per_intent(db: Database) -> None:
    for hour, label in enumerate(["negative", "negative", "positive", "neutral"], start=1):
        await tagged(db, ANN, f"returns {hour}", label, 0.9, utc(2, hour), intent=("returns", 0.9))
    await tagged(db, BO, "where", "negative", 0.9, utc(2, 6), intent=("order_status", 0.8))
    await tagged(db, BO, "thanks", "positive", 0.9, utc(2, 7), intent=("feedback", 0.8))
    await tagged(db, BO, "hi", "positive", 0.9, utc(2, 8), intent=("other", 0.8))
    await tagged(db, ANN, "no intent read", "negative", 0.9, utc(2, 9))

    found = await moods_by_intent(db, utc(2, 0), utc(3, 0))

    # Most messages first, then by name; messages without an intent are left out.
    assert found == [
        IntentMoods("returns", 4, 2),
        IntentMoods("feedback", 1, 0),
        IntentMoods("order_status", 1, 1),
        IntentMoods("other", 1, 0),
    ]
    assert [row.negative_share for row in found] == [0.5, 0.0, 1.0, 0.0]
    assert sum(row.total for row in found) == 7


async def test_corrections_of_mood_and_intent_count_per_intent(db: Database) -> None:
    store = Store(db)
    first = await tagged(db, ANN, "a", "negative", 0.9, utc(2, 1), intent=("returns", 0.9))
    second = await tagged(db, ANN, "b", "positive", 0.9, utc(2, 2), intent=("returns", 0.9))
    untagged = await tagged(db, BO, "c", "negative", 0.9, utc(2, 3))
    await tagged(db, BO, "d", "negative", 0.9, utc(2, 4), intent=("payment", 0.7))
    # The first was not negative after all, the second was; the third, read while triage was
    # off, was about returns; the fourth stays as the model read it.
    await store.correct_mood(first.id, "neutral", OPERATOR)
    await store.correct_mood(second.id, "negative", OPERATOR)
    await store.correct_intent(second.id, "payment", OPERATOR)
    await store.correct_intent(untagged.id, "returns", OPERATOR)

    found = await moods_by_intent(db, utc(2, 0), utc(3, 0))

    assert found == [IntentMoods("payment", 2, 2), IntentMoods("returns", 2, 1)]


async def test_the_period_is_half_open(db: Database) -> None:
    await tagged(db, ANN, "before", "negative", 0.9, utc(1, 23, 59), intent=("returns", 0.9))
    await tagged(db, ANN, "at the start", "negative", 0.9, utc(2, 0), intent=("returns", 0.9))
    await tagged(db, ANN, "inside", "positive", 0.9, utc(2, 12), intent=("returns", 0.9))
    await tagged(db, ANN, "at the end", "negative", 0.9, utc(3, 0), intent=("returns", 0.9))

    assert await moods_by_intent(db, utc(2, 0), utc(3, 0)) == [IntentMoods("returns", 2, 1)]
    assert await moods_by_intent(db, utc(1, 0), utc(4, 0)) == [IntentMoods("returns", 4, 3)]
    assert await moods_by_intent(db, utc(5, 0), utc(6, 0)) == []


async def test_untagged_and_answer_messages_do_not_count(db: Database) -> None:
    store = Store(db)
    question = await tagged(db, ANN, "refund?", "negative", 0.9, intent=("returns", 0.9))
    await store.record_answer(question.id, "😢 Sure.", 99)
    await store.record_incoming(ANN.id, ANN, "not tagged yet", 5_000)
    now = datetime.now(UTC)

    found = await moods_by_intent(db, now - timedelta(days=1), now + timedelta(days=1))

    assert found == [IntentMoods("returns", 1, 1)]
