"""forget_customer: everything about one customer goes, everything else stays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from storage import CustomerInfo, Store
from storage.models import Base, ConversationReset, Customer, Message, MoodCorrection

CountRows = Callable[[type[Base]], Awaitable[int]]

ANN = CustomerInfo(id=7_000_000_001, name="Ann", language="en")
BO = CustomerInfo(id=7_000_000_002, name="波", language="zh")
GROUP = -1_001_234_567_890
OPERATOR = 5_000_000_001


async def _conversation(store: Store, customer: CustomerInfo, first_telegram_id: int) -> None:
    """Two answered messages with moods and a correction, a reset, and one pending message."""
    for n in range(2):
        message, _ = await store.record_incoming(
            GROUP, customer, f"message {n}", first_telegram_id + 2 * n
        )
        await store.set_mood(message.id, "negative", 0.9)
        await store.correct_mood(message.id, "neutral", OPERATOR)
        await store.record_answer(message.id, "answer", first_telegram_id + 2 * n + 1)
    await store.reset_conversation(GROUP, customer.id)
    await store.record_incoming(customer.id, customer, "pending", first_telegram_id + 10)


async def test_forget_customer_deletes_everything_about_them(
    store: Store, count_rows: CountRows
) -> None:
    await _conversation(store, ANN, 100)
    await _conversation(store, BO, 200)
    tables = (Customer, Message, ConversationReset, MoodCorrection)
    assert [await count_rows(table) for table in tables] == [2, 10, 2, 4]

    deleted = await store.forget_customer(ANN.id)

    assert deleted == 5
    assert [await count_rows(table) for table in tables] == [1, 5, 1, 2]
    assert await store.recent_moods(ANN.id) == []
    assert len(await store.recent_moods(BO.id)) == 2
    assert [message.customer_id for message in await store.pending_messages()] == [BO.id]


async def test_forgetting_an_unknown_customer_deletes_nothing(
    store: Store, count_rows: CountRows
) -> None:
    await _conversation(store, BO, 200)

    assert await store.forget_customer(ANN.id) == 0
    assert await count_rows(Message) == 5


async def test_a_forgotten_customer_starts_afresh(store: Store, count_rows: CountRows) -> None:
    await _conversation(store, ANN, 100)
    await store.forget_customer(ANN.id)

    message, created = await store.record_incoming(GROUP, ANN, "hello again", 100)

    assert created
    assert await store.history(GROUP, ANN.id, message.id) == []
    assert await count_rows(Message) == 1


async def test_reset_for_an_unknown_customer_stores_nothing(
    store: Store, count_rows: CountRows
) -> None:
    await store.reset_conversation(GROUP, ANN.id)

    assert await count_rows(ConversationReset) == 0
