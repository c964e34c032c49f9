"""Facts the operators taught the bot from the desk, and the questions it handed to them: what
the bot answers from besides the facts file, and what that file still lacks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import aliased

from storage.database import Database
from storage.errors import MessageNotFoundError
from storage.insert_or_ignore import insert_or_ignore_returning
from storage.models import DeskFact, Message
from storage.transaction import read_transaction, transaction


@dataclass(frozen=True)
class DeskFactRecord:
    id: int
    question: str
    answer: str
    question_message_id: int
    operator_id: int
    created_at: datetime


@dataclass(frozen=True)
class HandedOffQuestion:
    """A customer's message the bot handed to a person, and what came of it."""

    message_id: int
    customer_id: int
    text: str
    handed_off_at: datetime
    answered: bool  # an operator wrote to the customer in that chat afterwards
    saved: bool  # an operator's answer to it was saved as a desk fact


class DeskFacts:
    """Each method is its own transaction and raises StorageError when the database fails."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def save(
        self, question_message_id: int, answer_message_id: int, operator_id: int, at: datetime
    ) -> DeskFactRecord | None:
        """Save the operator's message `answer_message_id` as the answer to the customer's
        message `question_message_id`; None when that answer was saved already. A message
        that is gone (its customer was forgotten) raises MessageNotFoundError."""
        async with transaction(self._database) as session:
            question = await session.get(Message, question_message_id)
            answer = await session.get(Message, answer_message_id)
            if question is None or answer is None:
                raise MessageNotFoundError(
                    question_message_id if question is None else answer_message_id
                )
            if question.role != "user" or answer.role != "operator":
                raise ValueError(
                    f"message {question_message_id} must be a customer's and "
                    f"{answer_message_id} an operator's"
                )
            values = {
                "question": question.text,
                "answer": answer.text,
                "question_message_id": question.id,
                "answer_message_id": answer.id,
                "operator_id": operator_id,
                "created_at": at,
            }
            fact_id = await insert_or_ignore_returning(session, DeskFact, values, DeskFact.id)
        if fact_id is None:
            return None
        return DeskFactRecord(fact_id, question.text, answer.text, question.id, operator_id, at)

    async def active(self, limit: int | None = None) -> list[DeskFactRecord]:
        """The facts in use, newest first."""
        query = (
            select(DeskFact)
            .where(DeskFact.removed_at.is_(None))
            .order_by(DeskFact.created_at.desc(), DeskFact.id.desc())
            .limit(limit)
        )
        async with read_transaction(self._database) as session:
            return [_record(row) for row in await session.scalars(query)]

    async def remove(self, fact_id: int, operator_id: int, at: datetime) -> bool:
        """Stop answering from a fact; False when it is removed already or unknown."""
        async with transaction(self._database) as session:
            result = await session.execute(
                update(DeskFact)
                .where(DeskFact.id == fact_id, DeskFact.removed_at.is_(None))
                .values(removed_by=operator_id, removed_at=at)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def question_answered_by(self, operator_message: int) -> int | None:
        """The handed-off question an operator's message answers: the customer's message just
        before it in that chat, when the bot handed it to a person and no operator had written
        to the customer since; None otherwise."""
        async with read_transaction(self._database) as session:
            answer = await session.get(Message, operator_message)
            if answer is None:
                return None
            before = await session.scalar(
                select(Message)
                .where(
                    Message.chat_id == answer.chat_id,
                    Message.customer_id == answer.customer_id,
                    Message.role.in_(("user", "operator")),
                    Message.id < answer.id,
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
        if before is None or before.role != "user" or not before.needs_human:
            return None
        return before.id

    async def handed_off(
        self, since: datetime, until: datetime | None = None
    ) -> list[HandedOffQuestion]:
        """The customers' messages handed to a person in [since, until) (until: none), oldest
        first."""
        later = aliased(Message)
        answered = exists().where(
            and_(
                later.chat_id == Message.chat_id,
                later.customer_id == Message.customer_id,
                later.role == "operator",
                later.id > Message.id,
            )
        )
        saved = exists().where(DeskFact.question_message_id == Message.id)
        query = (
            select(
                Message.id,
                Message.customer_id,
                Message.text,
                Message.handed_off_at,
                Message.created_at,
                answered.label("answered"),
                saved.label("saved"),
            )
            .where(
                Message.role == "user",
                Message.needs_human.is_(True),
                Message.created_at >= since,
                *(() if until is None else (Message.created_at < until,)),
            )
            .order_by(Message.id)
        )
        async with read_transaction(self._database) as session:
            rows = (await session.execute(query)).all()
        return [
            HandedOffQuestion(
                row.id,
                row.customer_id,
                row.text,
                row.handed_off_at or row.created_at,
                bool(row.answered),
                bool(row.saved),
            )
            for row in rows
        ]


def _record(row: DeskFact) -> DeskFactRecord:
    return DeskFactRecord(
        row.id, row.question, row.answer, row.question_message_id, row.operator_id, row.created_at
    )
