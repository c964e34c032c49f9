"""Ratings: asked once per ended conversation, rated once; the desk's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from storage import CustomerInfo, Store
from storage.database import Database
from storage.desk import Conversation, DeskStore
from storage.models import Message
from storage.ratings import Ratings, rating_stats

ANN = CustomerInfo(id=7_400_000_001, name="Ann")
BO = CustomerInfo(id=7_400_000_002, name="Bo")


async def test_a_conversation_is_asked_once_and_rated_once(db: Database, store: Store) -> None:
    ratings = Ratings(db)
    now = datetime.now(UTC)
    assert await ratings.ask(ANN.id, ANN.id, "reset", now) is None
    await store.record_incoming(ANN.id, ANN, "hi", 1)
    asked = await ratings.ask(ANN.id, ANN.id, "reset", now + timedelta(seconds=1))
    assert asked is not None
    assert await ratings.ask(ANN.id, ANN.id, "idle", now + timedelta(seconds=2)) is None

    assert not await ratings.rate(asked, BO.id, 5, now)
    assert await ratings.rate(asked, ANN.id, 4, now)
    assert not await ratings.rate(asked, ANN.id, 1, now)


async def test_idle_conversations_are_those_quiet_for_long_and_not_asked_yet(
    db: Database, store: Store
) -> None:
    ratings = Ratings(db)
    await store.record_incoming(ANN.id, ANN, "hi", 1)
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await ratings.idle_conversations(later, later - timedelta(days=1)) == [(ANN.id, ANN.id)]
    assert (
        await ratings.idle_conversations(later - timedelta(hours=3), later - timedelta(days=1))
        == []
    )
    await ratings.ask(ANN.id, ANN.id, "idle", later)
    assert await ratings.idle_conversations(later, later - timedelta(days=1)) == []


async def test_the_figures_ratings_first_human_answer_and_recovery(
    db: Database, store: Store
) -> None:
    ratings, desk = Ratings(db), DeskStore(db)
    start = datetime.now(UTC) - timedelta(minutes=1)
    # Ann opens negative, is handed off, answered by an operator, ends positive, rates 3.
    first, _ = await store.record_incoming(ANN.id, ANN, "sad", 1)
    await store.set_mood(first.id, "negative", 0.9)
    async with db.session() as session, session.begin():
        await session.execute(
            update(Message).where(Message.id == first.id).values(needs_human=True)
        )
    await desk.record_operator_message(
        Conversation(ANN.id, ANN.id), 1, "sorry", 2, first.created_at + timedelta(seconds=90)
    )
    last, _ = await store.record_incoming(ANN.id, ANN, "glad", 3)
    await store.set_mood(last.id, "positive", 0.9)
    ann = await ratings.ask(ANN.id, ANN.id, "close", datetime.now(UTC))
    await ratings.rate(ann, ANN.id, 3, datetime.now(UTC))  # type: ignore[arg-type]
    # Bo opens negative, stays negative, does not rate.
    bo, _ = await store.record_incoming(BO.id, BO, "sad", 1)
    await store.set_mood(bo.id, "negative", 0.9)
    await ratings.ask(BO.id, BO.id, "idle", datetime.now(UTC))

    stats = await rating_stats(db, start, datetime.now(UTC) + timedelta(minutes=1))

    assert (stats.asked, stats.rated, stats.average, stats.response_rate) == (2, 1, 3.0, 0.5)
    assert (stats.handoffs_answered, stats.first_human_answer_seconds) == (1, 90.0)
    assert (stats.opened_negative, stats.recovered, stats.recovery_rate) == (2, 1, 0.5)
