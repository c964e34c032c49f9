"""The operations the bot needs, each one short transaction, returning plain records."""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from engine.vocabulary import INTENT_NAME_LENGTH, INTENT_NAME_PATTERN, MOOD_LABELS, MoodLabel
from storage.database import Database
from storage.errors import ConstraintError, MessageNotFoundError
from storage.models import (
    AnswerDelivery,
    ConversationReset,
    Customer,
    DeliveredPart,
    IntentCorrection,
    Message,
    MoodCorrection,
)
from storage.records import (
    AnswerDeliveryRecord,
    CustomerInfo,
    HistoryTurn,
    PlannedPart,
    StoredMessage,
)
from storage.transaction import read_transaction, transaction
from storage.utc_datetime import Clock, utc_now


class Store:
    """Customers, their messages, the mood log and conversation resets.

    Every method is its own transaction and raises StorageError (or a subclass) when the
    database fails, so a caller never sees a driver's exception.
    """

    def __init__(self, database: Database, clock: Clock = utc_now) -> None:
        self._database = database
        # When messages, answers, resets and corrections happened.
        self._clock = clock

    async def record_incoming(
        self,
        chat_id: int,
        customer: CustomerInfo,
        text: str,
        telegram_message_id: int | None,
    ) -> tuple[StoredMessage, bool]:
        """Store a customer's message as pending and refresh what we know of the customer.

        Returns the message and True, or, when this (chat_id, telegram_message_id) is already
        stored because Telegram delivered the update again, the stored message and False.
        """
        try:
            return await self._record_incoming_once(chat_id, customer, text, telegram_message_id)
        except ConstraintError:
            # A concurrent transaction stored the same update, or the same new customer, between
            # our check and our insert; a second attempt finds its rows.
            return await self._record_incoming_once(chat_id, customer, text, telegram_message_id)

    async def set_mood(
        self,
        message_id: int,
        label: MoodLabel,
        confidence: float,
        intent: tuple[str, float] | None = None,
    ) -> None:
        """Record the model's mood for a message (the mood log), and what the customer wants
        (`intent`: its name and the model's confidence) where triage read it."""
        _check_label(label)
        _check_confidence("mood", confidence)
        if intent is not None:
            _check_intent(intent[0])
            _check_confidence("intent", intent[1])
        async with self._transaction() as session:
            message = await _get(session, message_id)
            message.mood_label = label
            message.mood_confidence = confidence
            if intent is not None:
                message.intent, message.intent_confidence = intent

    async def correct_intent(self, message_id: int, intent: str, operator_id: int) -> None:
        """Record an operator's intent for a message; the model's is kept beside it."""
        _check_intent(intent)
        async with self._transaction() as session:
            await _get(session, message_id)
            session.add(
                IntentCorrection(
                    message_id=message_id,
                    intent=intent,
                    operator_id=operator_id,
                    created_at=self._clock(),
                )
            )

    async def correct_mood(self, message_id: int, label: MoodLabel, operator_id: int) -> None:
        """Record an operator's mood label for a message; the model's label is kept beside it."""
        _check_label(label)
        async with self._transaction() as session:
            await _get(session, message_id)
            session.add(
                MoodCorrection(
                    message_id=message_id,
                    label=label,
                    operator_id=operator_id,
                    created_at=self._clock(),
                )
            )

    async def history(
        self, chat_id: int, customer_id: int, before_message_id: int, limit: int = 50
    ) -> list[HistoryTurn]:
        """The customer's last `limit` turns in this chat before a message, oldest first.

        Only answered messages and their answers count, and only those since the customer's
        last reset in this chat. An answer belongs where its question is, so an answer written
        after `before_message_id` arrived (pending messages answered after a restart) still
        comes right after the message it answers.
        """
        question = aliased(Message)
        anchor_id = func.coalesce(Message.reply_to_id, Message.id)
        anchor_created_at = func.coalesce(question.created_at, Message.created_at)
        last_reset = (
            select(func.max(ConversationReset.created_at))
            .where(
                ConversationReset.chat_id == chat_id,
                ConversationReset.customer_id == customer_id,
            )
            .scalar_subquery()
        )
        query = (
            select(Message.role, Message.text, Message.mood_label)
            .outerjoin(question, Message.reply_to_id == question.id)
            .where(
                Message.chat_id == chat_id,
                Message.customer_id == customer_id,
                # A customer's message left to the team is a turn too: an operator answered it.
                or_(Message.role != "user", Message.status.in_(("answered", "human"))),
                anchor_id < before_message_id,
                or_(last_reset.is_(None), anchor_created_at > last_reset),
            )
            .order_by(anchor_id.desc(), Message.id.desc())
            .limit(limit)
        )
        async with self._reading() as session:
            rows = (await session.execute(query)).all()
        return [
            HistoryTurn(role=role, text=text, mood=mood if role == "user" else None)
            for role, text, mood in reversed(rows)
        ]

    async def record_answer(
        self,
        message_id: int,
        text: str,
        telegram_message_id: int | None,
        evidence: Sequence[str] = (),
    ) -> StoredMessage:
        """Store the answer to a customer's message (with the statements of the facts it rests
        on) and mark that message answered.

        Idempotent: if the message already has an answer, that answer is returned unchanged.
        """
        async with self._transaction() as session:
            question = await _get(session, message_id, for_update=True)
            if question.role != "user":
                raise ValueError(f"message {message_id} is an answer, not a customer's message")
            earlier = await session.scalar(select(Message).where(Message.reply_to_id == message_id))
            if earlier is not None:
                return stored_message(earlier)
            answer = Message(
                chat_id=question.chat_id,
                customer_id=question.customer_id,
                role="assistant",
                text=text,
                telegram_message_id=telegram_message_id,
                reply_to_id=message_id,
                created_at=self._clock(),
                status="answered",
                evidence="\n".join(evidence) or None,
            )
            session.add(answer)
            question.status = "answered"
            question.failure_reason = None
            await session.flush()
            return stored_message(answer)

    async def record_placeholder(self, message_id: int, telegram_message_id: int | None) -> None:
        """Remember the placeholder message shown while the answer to `message_id` is written
        (None once it is taken back), so that a restart edits it instead of leaving it."""
        async with self._transaction() as session:
            await _get(session, message_id)
            delivery = await session.get(AnswerDelivery, message_id, with_for_update=True)
            if delivery is None:
                session.add(
                    AnswerDelivery(
                        message_id=message_id, placeholder_telegram_id=telegram_message_id
                    )
                )
            else:
                delivery.placeholder_telegram_id = telegram_message_id

    async def plan_answer(
        self, message_id: int, text: str, parts: list[str]
    ) -> AnswerDeliveryRecord:
        """Store the final answer and its parts before the first is sent.

        Idempotent: an answer planned before (by a try that crashed or failed midway) wins, so
        a restart delivers what the customer has partly seen, never a second, different answer.
        """
        if not parts:
            raise ValueError(f"the answer to message {message_id} has no parts to deliver")
        async with self._transaction() as session:
            await _get(session, message_id)
            delivery = await session.get(AnswerDelivery, message_id, with_for_update=True)
            if delivery is None:
                delivery = AnswerDelivery(message_id=message_id)
                session.add(delivery)
            if delivery.text is None:
                delivery.text = text
                session.add_all(
                    DeliveredPart(message_id=message_id, position=position, text=part)
                    for position, part in enumerate(parts)
                )
                await session.flush()
            return await _delivery_record(session, delivery)

    async def answer_delivery(self, message_id: int) -> AnswerDeliveryRecord | None:
        """The answer on its way to `message_id`, or None if none was started."""
        async with self._reading() as session:
            delivery = await session.get(AnswerDelivery, message_id)
            return None if delivery is None else await _delivery_record(session, delivery)

    async def record_part_delivered(
        self, message_id: int, position: int, telegram_message_id: int
    ) -> None:
        """A planned part reached Telegram as message `telegram_message_id`."""
        async with self._transaction() as session:
            part = await session.get(DeliveredPart, (message_id, position), with_for_update=True)
            if part is None:
                raise MessageNotFoundError(message_id)
            part.telegram_message_id = telegram_message_id

    async def mark_failed(self, message_id: int, reason: str) -> None:
        """Mark a customer's message as not answered, with the reason for operators.

        A message that was answered stays answered: a late failure report cannot undo that.
        """
        async with self._transaction() as session:
            message = await _get(session, message_id, for_update=True)
            if message.status != "answered":
                message.status = "failed"
                message.failure_reason = reason

    async def mark_handed_off(
        self, message_id: int, reason: str, at: datetime | None = None
    ) -> StoredMessage:
        """Flag a customer's message as needing a colleague: the facts did not answer it."""
        async with self._transaction() as session:
            message = await _get(session, message_id, for_update=True)
            message.needs_human = True
            message.handoff_reason = reason
            message.handed_off_at = at or self._clock()
            await session.flush()
            return stored_message(message)

    async def pending_messages(self, chat_id: int | None = None) -> list[StoredMessage]:
        """Customers' messages stored but neither answered nor failed, oldest first; in one
        chat, or in all."""
        query = (
            select(Message)
            .where(Message.role == "user", Message.status == "pending")
            .order_by(Message.id)
        )
        if chat_id is not None:
            query = query.where(Message.chat_id == chat_id)
        async with self._reading() as session:
            return [stored_message(message) for message in await session.scalars(query)]

    async def reset_conversation(self, chat_id: int, customer_id: int) -> None:
        """Start the customer's conversation in this chat afresh: earlier turns leave history.

        A customer we have never stored has no history, so there is nothing to reset.
        """
        async with self._transaction() as session:
            if await session.get(Customer, customer_id) is None:
                return
            session.add(
                ConversationReset(
                    chat_id=chat_id, customer_id=customer_id, created_at=self._clock()
                )
            )

    async def recent_moods(self, customer_id: int, limit: int = 10) -> list[StoredMessage]:
        """The customer's last `limit` messages that have a mood, newest first, in any chat."""
        query = (
            select(Message)
            .where(
                Message.customer_id == customer_id,
                Message.role == "user",
                Message.mood_label.is_not(None),
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(limit)
        )
        async with self._reading() as session:
            return [stored_message(message) for message in await session.scalars(query)]

    async def forget_customer(self, customer_id: int) -> int:
        """Delete the customer and everything about them; returns how many messages went."""
        count_messages = (
            select(func.count()).select_from(Message).where(Message.customer_id == customer_id)
        )
        async with self._transaction() as session:
            deleted = await session.scalar(count_messages) or 0
            # The foreign keys cascade to messages, their answers, resets and mood corrections.
            await session.execute(delete(Customer).where(Customer.id == customer_id))
        return deleted

    async def get_message(self, message_id: int) -> StoredMessage | None:
        """The message with this id, or None."""
        async with self._reading() as session:
            message = await session.get(Message, message_id)
            return None if message is None else stored_message(message)

    async def _record_incoming_once(
        self,
        chat_id: int,
        info: CustomerInfo,
        text: str,
        telegram_message_id: int | None,
    ) -> tuple[StoredMessage, bool]:
        async with self._transaction() as session:
            if telegram_message_id is not None:
                existing = await session.scalar(
                    select(Message).where(
                        Message.chat_id == chat_id,
                        Message.telegram_message_id == telegram_message_id,
                    )
                )
                if existing is not None:
                    return stored_message(existing), False
            await _upsert_customer(session, info, self._clock())
            message = Message(
                chat_id=chat_id,
                customer_id=info.id,
                role="user",
                text=text,
                telegram_message_id=telegram_message_id,
                created_at=self._clock(),
                status="pending",
            )
            session.add(message)
            await session.flush()
            return stored_message(message), True

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        return transaction(self._database)

    def _reading(self) -> AbstractAsyncContextManager[AsyncSession]:
        return read_transaction(self._database)


async def _get(session: AsyncSession, message_id: int, *, for_update: bool = False) -> Message:
    message = await session.get(Message, message_id, with_for_update=for_update)
    if message is None:
        raise MessageNotFoundError(message_id)
    return message


async def _upsert_customer(session: AsyncSession, info: CustomerInfo, now: datetime) -> None:
    customer = await session.get(Customer, info.id)
    if customer is None:
        session.add(
            Customer(
                id=info.id,
                name=info.name,
                username=info.username,
                language=info.language,
                first_seen=now,
                last_seen=now,
            )
        )
        return
    customer.name = info.name
    customer.username = info.username
    # An update without a language says nothing about it; the one we knew still holds.
    if info.language is not None:
        customer.language = info.language
    customer.last_seen = now


async def _delivery_record(session: AsyncSession, delivery: AnswerDelivery) -> AnswerDeliveryRecord:
    parts = await session.scalars(
        select(DeliveredPart)
        .where(DeliveredPart.message_id == delivery.message_id)
        .order_by(DeliveredPart.position)
    )
    return AnswerDeliveryRecord(
        text=delivery.text,
        placeholder_telegram_id=delivery.placeholder_telegram_id,
        parts=tuple(
            PlannedPart(part.position, part.text, part.telegram_message_id) for part in parts
        ),
    )


def _check_label(label: str) -> None:
    if label not in MOOD_LABELS:
        raise ValueError(f"mood label {label!r} is not one of {', '.join(MOOD_LABELS)}")


def _check_intent(intent: str) -> None:
    if re.fullmatch(INTENT_NAME_PATTERN, intent) is None:
        raise ValueError(
            f"intent {intent!r} is not an intent name (lower-case letters, digits and _, "
            f"starting with a letter, at most {INTENT_NAME_LENGTH} characters)"
        )


def _check_confidence(what: str, confidence: float) -> None:
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"{what} confidence {confidence} is outside [0, 1]")


def stored_message(message: Message) -> StoredMessage:
    return StoredMessage(
        id=message.id,
        chat_id=message.chat_id,
        customer_id=message.customer_id,
        role=message.role,
        text=message.text,
        telegram_message_id=message.telegram_message_id,
        created_at=message.created_at,
        mood_label=message.mood_label,
        mood_confidence=message.mood_confidence,
        status=message.status,
        needs_human=message.needs_human,
        handoff_reason=message.handoff_reason,
        handed_off_at=message.handed_off_at,
        intent=message.intent,
        intent_confidence=message.intent_confidence,
    )
