"""Tagged customer messages at chosen times, for tests of the mood log and its reports."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import update

from engine.vocabulary import MoodLabel
from storage import CustomerInfo, Database, Store, StoredMessage
from storage.models import Message

# Shared by every test of a session, so far above the ids tests give answers by hand: an
# incoming id equal to an answer's would be taken for a re-delivery of that message.
_telegram_ids = itertools.count(1_000_000_001)


async def tagged(
    database: Database,
    customer: CustomerInfo,
    text: str,
    label: MoodLabel,
    confidence: float,
    at: datetime | None = None,
    *,
    intent: tuple[str, float] | None = None,
) -> StoredMessage:
    """A customer's message in their private chat, tagged (with `intent`, its name and
    confidence, where given), and stored as written at `at`."""
    store = Store(database)
    message, _ = await store.record_incoming(customer.id, customer, text, next(_telegram_ids))
    await store.set_mood(message.id, label, confidence, intent=intent)
    if at is not None:
        async with database.session() as session, session.begin():
            await session.execute(
                update(Message).where(Message.id == message.id).values(created_at=at)
            )
    stored = await store.get_message(message.id)
    assert stored is not None
    return stored
