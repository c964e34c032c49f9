"""Everything stored about one customer, for a data-subject access request."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from engine.vocabulary import MoodLabel
from storage.database import Database
from storage.models import (
    ConversationReset,
    Customer,
    IntentCorrection,
    Message,
    MoodCorrection,
)
from storage.records import Role, Status
from storage.transaction import read_transaction


@dataclass(frozen=True)
class ExportedCustomer:
    id: int
    name: str
    username: str | None
    language: str | None
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class ExportedCorrection:
    label: MoodLabel
    operator_id: int
    created_at: datetime


@dataclass(frozen=True)
class ExportedIntentCorrection:
    intent: str
    operator_id: int
    created_at: datetime


@dataclass(frozen=True)
class ExportedMessage:
    """A customer's message, the bot's or an operator's answer, with the model's mood and
    every correction."""

    id: int
    chat_id: int
    role: Role
    text: str
    telegram_message_id: int | None
    reply_to_id: int | None
    created_at: datetime
    mood_label: MoodLabel | None
    mood_confidence: float | None
    status: Status
    failure_reason: str | None
    operator_id: int | None
    keywords: str | None
    needs_human: bool
    handoff_reason: str | None
    handed_off_at: datetime | None
    evidence: str | None
    corrections: tuple[ExportedCorrection, ...]
    intent: str | None = None
    intent_confidence: float | None = None
    intent_corrections: tuple[ExportedIntentCorrection, ...] = ()


@dataclass(frozen=True)
class ExportedReset:
    chat_id: int
    created_at: datetime


@dataclass(frozen=True)
class CustomerExport:
    customer: ExportedCustomer
    messages: tuple[ExportedMessage, ...]
    resets: tuple[ExportedReset, ...]


async def export_customer(database: Database, customer_id: int) -> CustomerExport | None:
    """The customer's row, messages (oldest first) and resets; None for an unknown customer."""
    async with read_transaction(database) as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            return None
        messages = (
            await session.scalars(
                select(Message).where(Message.customer_id == customer_id).order_by(Message.id)
            )
        ).all()
        corrections = (
            await session.scalars(
                select(MoodCorrection)
                .join(Message, Message.id == MoodCorrection.message_id)
                .where(Message.customer_id == customer_id)
                .order_by(MoodCorrection.id)
            )
        ).all()
        intent_corrections = (
            await session.scalars(
                select(IntentCorrection)
                .join(Message, Message.id == IntentCorrection.message_id)
                .where(Message.customer_id == customer_id)
                .order_by(IntentCorrection.id)
            )
        ).all()
        resets = (
            await session.scalars(
                select(ConversationReset)
                .where(ConversationReset.customer_id == customer_id)
                .order_by(ConversationReset.id)
            )
        ).all()
    by_message: defaultdict[int, list[ExportedCorrection]] = defaultdict(list)
    for correction in corrections:
        by_message[correction.message_id].append(
            ExportedCorrection(correction.label, correction.operator_id, correction.created_at)
        )
    intents_by_message: defaultdict[int, list[ExportedIntentCorrection]] = defaultdict(list)
    for intent_correction in intent_corrections:
        intents_by_message[intent_correction.message_id].append(
            ExportedIntentCorrection(
                intent_correction.intent,
                intent_correction.operator_id,
                intent_correction.created_at,
            )
        )
    return CustomerExport(
        customer=ExportedCustomer(
            id=customer.id,
            name=customer.name,
            username=customer.username,
            language=customer.language,
            first_seen=customer.first_seen,
            last_seen=customer.last_seen,
        ),
        messages=tuple(
            ExportedMessage(
                id=message.id,
                chat_id=message.chat_id,
                role=message.role,
                text=message.text,
                telegram_message_id=message.telegram_message_id,
                reply_to_id=message.reply_to_id,
                created_at=message.created_at,
                mood_label=message.mood_label,
                mood_confidence=message.mood_confidence,
                status=message.status,
                failure_reason=message.failure_reason,
                operator_id=message.operator_id,
                keywords=message.keywords,
                needs_human=message.needs_human,
                handoff_reason=message.handoff_reason,
                handed_off_at=message.handed_off_at,
                evidence=message.evidence,
                corrections=tuple(by_message[message.id]),
                intent=message.intent,
                intent_confidence=message.intent_confidence,
                intent_corrections=tuple(intents_by_message[message.id]),
            )
            for message in messages
        ),
        resets=tuple(ExportedReset(reset.chat_id, reset.created_at) for reset in resets),
    )
