"""record_incoming: pending messages, customer upserts and re-delivered updates."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from storage import CustomerInfo, Database, Store
from storage.models import Base, Customer, Message

CountRows = Callable[[type[Base]], Awaitable[int]]

# Real Telegram ids: user ids above 2**32, supergroup chat ids negative with 13 digits.
ANN = CustomerInfo(id=7_000_000_001, name="Ann Lee", username="ann", language="en")
GROUP = -1_001_234_567_890


async def _customer(db: Database, customer_id: int) -> Customer:
    async with db.session() as session:
        customer = await session.get(Customer, customer_id)
    assert customer is not None
    return customer


async def test_stores_a_pending_user_message_and_the_customer(db: Database) -> None:
    arrived = datetime(2024, 5, 8, 23, 59, 59, 999999, tzinfo=UTC)
    store = Store(db, clock=lambda: arrived)
    message, created = await store.record_incoming(GROUP, ANN, "我的订单还没到 😢", 42)

    assert created
    assert message.chat_id == GROUP
    assert message.customer_id == ANN.id
    assert message.role == "user"
    assert message.text == "我的订单还没到 😢"
    assert message.telegram_message_id == 42
    assert message.status == "pending"
    assert message.mood_label is None
    assert message.mood_confidence is None
    assert message.created_at.tzinfo == UTC
    assert message.created_at == arrived
    assert await store.get_message(message.id) == message

    customer = await _customer(db, ANN.id)
    assert (customer.name, customer.username, customer.language) == ("Ann Lee", "ann", "en")
    assert customer.first_seen == customer.last_seen == arrived


async def test_updates_the_customer_on_each_message(store: Store, db: Database) -> None:
    await store.record_incoming(GROUP, ANN, "hi", 1)
    before = await _customer(db, ANN.id)

    renamed = CustomerInfo(id=ANN.id, name="Ann Smith", username=None, language=None)
    await store.record_incoming(GROUP, renamed, "again", 2)

    after = await _customer(db, ANN.id)
    assert after.name == "Ann Smith"
    assert after.username is None
    assert after.language == "en"
    assert after.first_seen == before.first_seen
    assert after.last_seen > before.last_seen


async def test_a_redelivered_update_returns_the_stored_message(
    store: Store, count_rows: CountRows
) -> None:
    first, first_created = await store.record_incoming(GROUP, ANN, "hello", 42)
    again, again_created = await store.record_incoming(GROUP, ANN, "hello", 42)

    assert first_created
    assert not again_created
    assert again == first
    assert await count_rows(Message) == 1


async def test_the_same_telegram_id_in_another_chat_is_another_message(
    store: Store, count_rows: CountRows
) -> None:
    await store.record_incoming(GROUP, ANN, "hello", 42)
    _, created = await store.record_incoming(ANN.id, ANN, "hello", 42)

    assert created
    assert await count_rows(Message) == 2


async def test_messages_without_a_telegram_id_are_never_deduplicated(
    store: Store, count_rows: CountRows
) -> None:
    first, _ = await store.record_incoming(GROUP, ANN, "same words", None)
    second, created = await store.record_incoming(GROUP, ANN, "same words", None)

    assert created
    assert second.id != first.id
    assert await count_rows(Message) == 2


async def test_concurrent_deliveries_of_one_update_store_it_once(
    store: Store, count_rows: CountRows
) -> None:
    results = await asyncio.gather(
        *(store.record_incoming(GROUP, ANN, "hello", 42) for _ in range(8))
    )

    assert sum(created for _, created in results) == 1
    assert len({message.id for message, _ in results}) == 1
    assert await count_rows(Message) == 1
    assert await count_rows(Customer) == 1


async def test_concurrent_new_customers_are_all_stored(store: Store, count_rows: CountRows) -> None:
    customers = [CustomerInfo(id=7_000_000_100 + n, name=f"customer {n}") for n in range(12)]

    results = await asyncio.gather(
        *(
            store.record_incoming(GROUP, customer, f"message {n}", 1000 + n)
            for n, customer in enumerate(customers)
        ),
        # The same new customer writing in two chats at once.
        store.record_incoming(customers[0].id, customers[0], "private", 1),
    )

    assert all(created for _, created in results)
    assert await count_rows(Message) == 13
    assert await count_rows(Customer) == 12
