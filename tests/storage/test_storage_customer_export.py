"""The data-subject export: everything stored about one customer, and nobody else's."""

from __future__ import annotations

import dataclasses

from storage import CustomerInfo, Database, Store
from storage.customer_export import ExportedCustomer, ExportedMessage, export_customer
from storage.models import ConversationReset, Customer, Message, MoodCorrection
from tests.mood_log_seed import tagged

ANN = CustomerInfo(id=7_000_000_001, name="Ann", username="ann", language="en")
BO = CustomerInfo(id=7_000_000_002, name="波")
OPERATOR = 5_000_000_001


async def test_export_holds_messages_answers_moods_corrections_and_resets(db: Database) -> None:
    store = Store(db)
    question = await tagged(db, ANN, "it broke", "negative", 0.91)
    await store.record_answer(question.id, "😢 sorry to hear that", 501)
    await store.correct_mood(question.id, "neutral", OPERATOR)
    await store.correct_mood(question.id, "negative", OPERATOR + 1)
    await store.reset_conversation(ANN.id, ANN.id)
    failed = await tagged(db, ANN, "hello?", "neutral", 0.55)
    await store.mark_failed(failed.id, "cancelled by the customer")
    await tagged(db, BO, "someone else", "positive", 0.9)

    export = await export_customer(db, ANN.id)

    assert export is not None
    assert (export.customer.id, export.customer.name, export.customer.language) == (
        ANN.id,
        "Ann",
        "en",
    )
    assert [(m.role, m.text) for m in export.messages] == [
        ("user", "it broke"),
        ("assistant", "😢 sorry to hear that"),
        ("user", "hello?"),
    ]
    first, answer, last = export.messages
    assert (first.mood_label, first.mood_confidence, first.status) == ("negative", 0.91, "answered")
    assert [(c.label, c.operator_id) for c in first.corrections] == [
        ("neutral", OPERATOR),
        ("negative", OPERATOR + 1),
    ]
    assert answer.reply_to_id == first.id and answer.telegram_message_id == 501
    assert (last.status, last.failure_reason) == ("failed", "cancelled by the customer")
    assert [reset.chat_id for reset in export.resets] == [ANN.id]


async def test_an_unknown_customer_has_no_export(db: Database) -> None:
    assert await export_customer(db, 42) is None


def test_the_export_covers_every_column_the_schema_has() -> None:
    """A column added to the schema later must reach the export too (or be named here)."""

    def fields(record: type) -> set[str]:
        return {field.name for field in dataclasses.fields(record)}

    def columns(model: type) -> set[str]:
        return {column.name for column in model.__table__.columns}  # type: ignore[attr-defined]

    assert columns(Customer) <= fields(ExportedCustomer)
    # customer_id is the export's subject; corrections and resets are nested records.
    assert columns(Message) - {"customer_id"} <= fields(ExportedMessage)
    assert columns(MoodCorrection) - {"id", "message_id"} == {"label", "operator_id", "created_at"}
    assert columns(ConversationReset) - {"id", "customer_id"} == {"chat_id", "created_at"}
