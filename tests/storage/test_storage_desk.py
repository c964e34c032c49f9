"""The desk's storage: topics, posts, takeovers and operator turns in the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import CustomerInfo, HistoryTurn, Store
from storage.database import Database
from storage.desk import Conversation, DeskStore

ANN = CustomerInfo(id=7_100_000_001, name="Ann", username="ann")
DESK = -1_009_000_000_001
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


async def test_a_topic_is_found_by_customer_and_by_thread_and_can_be_replaced(
    db: Database, store: Store
) -> None:
    desk = DeskStore(db)
    await store.record_incoming(ANN.id, ANN, "hi", 1)
    await desk.save_topic(DESK, ANN.id, 11, "Ann", T0)
    await desk.save_topic(DESK, ANN.id, 15, "Ann (again)", T0 + timedelta(minutes=1))

    topic = await desk.topic(DESK, ANN.id)
    assert topic is not None and (topic.thread_id, topic.title) == (15, "Ann (again)")
    assert await desk.customer_of_topic(DESK, 15) == ANN.id
    assert await desk.customer_of_topic(DESK, 11) is None


async def test_a_post_leads_back_to_its_conversation(db: Database, store: Store) -> None:
    desk = DeskStore(db)
    await store.record_incoming(-100_77, ANN, "hi", 1)
    await store.record_incoming(ANN.id, ANN, "hi again", 1)
    conversation = await desk.latest_conversation(ANN.id)
    assert conversation == Conversation(ANN.id, ANN.id)

    await desk.remember_post(DESK, 300, Conversation(-100_77, ANN.id))
    assert await desk.conversation_of_post(DESK, 300) == Conversation(-100_77, ANN.id)
    assert await desk.conversation_of_post(DESK, 301) is None


async def test_a_takeover_lasts_until_handed_back_and_goes_idle_by_its_last_activity(
    db: Database, store: Store
) -> None:
    desk = DeskStore(db)
    await store.record_incoming(ANN.id, ANN, "hi", 1)
    conversation = Conversation(ANN.id, ANN.id)

    assert await desk.take_over(conversation, 42, T0)
    assert not await desk.take_over(conversation, 43, T0 + timedelta(minutes=5))
    taken = await desk.takeover(conversation)
    assert taken is not None and taken.operator_id == 42
    assert taken.active_at == T0 + timedelta(minutes=5)
    assert await desk.idle_takeovers(T0 + timedelta(minutes=5)) == []
    assert [t.customer_id for t in await desk.idle_takeovers(T0 + timedelta(minutes=6))] == [ANN.id]

    assert await desk.hand_back(conversation)
    assert not await desk.hand_back(conversation)
    assert await desk.takeover(conversation) is None


async def test_operator_turns_and_messages_left_to_the_team_are_in_the_history(
    db: Database, store: Store
) -> None:
    desk = DeskStore(db)
    conversation = Conversation(ANN.id, ANN.id)
    first, _ = await store.record_incoming(ANN.id, ANN, "where is my parcel?", 1)
    await desk.leave_to_the_team(first.id)
    operator = await desk.record_operator_message(conversation, 42, "It ships today.", 2, T0)
    later, _ = await store.record_incoming(ANN.id, ANN, "thanks", 3)

    assert operator.role == "operator"
    assert (await store.get_message(first.id)).status == "human"  # type: ignore[union-attr]
    assert await store.history(ANN.id, ANN.id, later.id) == [
        HistoryTurn("user", "where is my parcel?"),
        HistoryTurn("operator", "It ships today."),
    ]
    assert [m.id for m in await store.pending_messages()] == [later.id]


async def test_the_summary_shows_the_newest_messages_intent_an_operators_winning(
    db: Database, store: Store
) -> None:
    desk = DeskStore(db)
    first, _ = await store.record_incoming(ANN.id, ANN, "where is my refund", 1)
    await store.set_mood(first.id, "negative", 0.9, intent=("returns", 0.8))
    summary = await desk.customer_summary(ANN.id, 4)
    assert summary is not None and summary.intent == "returns"

    await store.correct_intent(first.id, "payment", 7)
    await store.correct_intent(first.id, "shipping", 8)
    summary = await desk.customer_summary(ANN.id, 4)
    assert summary is not None and summary.intent == "shipping"

    # The newest message counts; one read without an intent shows none.
    second, _ = await store.record_incoming(ANN.id, ANN, "hello?", 2)
    await store.set_mood(second.id, "neutral", 0.6)
    summary = await desk.customer_summary(ANN.id, 4)
    assert summary is not None
    assert (summary.moods, summary.intent) == (("neutral", "negative"), None)
