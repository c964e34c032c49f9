"""The operators' mood log: filters, corrections beside the model's label, stable pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from storage import CustomerInfo, Database, Store
from storage.models import MoodCorrection
from storage.mood_log import MoodFilter, MoodLog
from tests.mood_log_seed import tagged

ANN = CustomerInfo(id=7_000_000_001, name="Ann", username="Ann_K", language="en")
BO = CustomerInfo(id=7_000_000_002, name="波", language="zh")
OPERATOR = 5_000_000_001
# Just past midnight UTC, so that "hours ago" falls on the previous day.
NOW = datetime(2024, 5, 8, 0, 5, tzinfo=UTC)


async def test_entries_are_customers_tagged_messages_newest_first(db: Database) -> None:
    store = Store(db)
    await tagged(db, ANN, "first", "positive", 0.9, NOW - timedelta(hours=3))
    await tagged(db, BO, "second", "negative", 0.8, NOW - timedelta(hours=2))
    question = await tagged(db, ANN, "third", "neutral", 0.6, NOW - timedelta(hours=1))
    await store.record_answer(question.id, "😐 the answer", 99)
    await store.record_incoming(ANN.id, ANN, "not tagged yet", 1000)

    entries = await MoodLog(db).entries(MoodFilter())

    assert [entry.text for entry in entries] == ["third", "second", "first"]
    newest = entries[0]
    assert (newest.customer_id, newest.customer_name, newest.customer_username) == (
        ANN.id,
        "Ann",
        "Ann_K",
    )
    assert (newest.model_label, newest.model_confidence, newest.correction) == (
        "neutral",
        0.6,
        None,
    )
    assert newest.created_at == NOW - timedelta(hours=1)


async def test_filters_by_label_period_and_customer(db: Database) -> None:
    await tagged(db, ANN, "old and sad", "negative", 0.9, NOW - timedelta(days=10))
    await tagged(db, ANN, "sad", "negative", 0.9, NOW - timedelta(days=1))
    await tagged(db, ANN, "glad", "positive", 0.9, NOW - timedelta(hours=5))
    await tagged(db, BO, "也很难过", "negative", 0.9, NOW - timedelta(hours=1))
    mood_log = MoodLog(db)

    async def texts(mood_filter: MoodFilter) -> list[str]:
        return [entry.text for entry in await mood_log.entries(mood_filter)]

    week = NOW - timedelta(days=7)
    assert await texts(MoodFilter(label="negative")) == ["也很难过", "sad", "old and sad"]
    assert await texts(MoodFilter(label="negative", since=week)) == ["也很难过", "sad"]
    assert await texts(MoodFilter(label="negative", since=week, customer_id=ANN.id)) == ["sad"]
    assert await texts(MoodFilter(until=NOW - timedelta(hours=12))) == ["sad", "old and sad"]
    assert await mood_log.count(MoodFilter(since=week)) == 3


async def test_a_correction_shows_beside_the_models_label_and_decides_filters(
    db: Database,
) -> None:
    store = Store(db)
    message = await tagged(db, ANN, "well, thanks a lot", "negative", 0.7)
    await store.correct_mood(message.id, "neutral", OPERATOR)
    await store.correct_mood(message.id, "positive", OPERATOR + 1)
    mood_log = MoodLog(db)

    [entry] = await mood_log.entries(MoodFilter())

    assert (entry.model_label, entry.model_confidence) == ("negative", 0.7)
    assert entry.correction is not None
    assert (entry.correction.label, entry.correction.operator_id) == ("positive", OPERATOR + 1)
    assert entry.label == "positive"
    assert await mood_log.count(MoodFilter(label="positive")) == 1
    assert await mood_log.count(MoodFilter(label="negative")) == 0
    # Every correction stays on record, not only the latest.
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(MoodCorrection)) == 2


async def test_pages_stay_stable_while_new_messages_arrive(db: Database) -> None:
    for n in range(5):
        await tagged(db, ANN, f"m{n}", "neutral", 0.6, NOW - timedelta(minutes=10 - n))
    mood_log = MoodLog(db)

    first = await mood_log.page(MoodFilter(), 0, 2)
    await tagged(db, BO, "newcomer", "neutral", 0.6, NOW)
    second = await mood_log.page(first.mood_filter, 1, 2)
    third = await mood_log.page(first.mood_filter, 2, 2)

    assert [entry.text for entry in first.entries] == ["m4", "m3"]
    assert [entry.text for entry in second.entries] == ["m2", "m1"]
    assert [entry.text for entry in third.entries] == ["m0"]
    assert first.total == second.total == 5
    assert (await mood_log.page(MoodFilter(), 0, 2)).total == 6


async def test_customers_are_found_by_username_in_any_case(db: Database) -> None:
    await tagged(db, ANN, "hi", "neutral", 0.6)
    mood_log = MoodLog(db)

    assert await mood_log.customer_id_by_username("ann_k") == ANN.id
    assert await mood_log.customer_id_by_username("nobody") is None
