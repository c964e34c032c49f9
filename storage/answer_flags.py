"""Operators' "wrong answer" flags on the bot's answers, and the error rate they give."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from storage.database import Database
from storage.errors import MessageNotFoundError
from storage.insert_or_ignore import insert_or_ignore
from storage.models import AnswerFlag, Message
from storage.transaction import read_transaction, transaction


@dataclass(frozen=True)
class AnswerStats:
    """The bot's answers in a period: how many, how many rest on the facts, how many an
    operator flagged as wrong, and how many messages it handed to a person instead."""

    answered: int
    from_facts: int
    flagged: int
    handed_off: int

    @property
    def error_rate(self) -> float | None:
        return self.flagged / self.answered if self.answered else None


async def flag_answer(database: Database, message_id: int, operator_id: int, at: datetime) -> bool:
    """Flag the bot's answer to customer message `message_id` as wrong; False when it was
    flagged already. MessageNotFoundError when the message is gone (its customer was
    forgotten)."""
    async with transaction(database) as session:
        if await session.get(Message, message_id) is None:
            raise MessageNotFoundError(message_id)
        return await insert_or_ignore(
            session,
            AnswerFlag,
            {"message_id": message_id, "operator_id": operator_id, "flagged_at": at},
        )


async def answer_stats(database: Database, since: datetime, until: datetime) -> AnswerStats:
    """The figures of the customers' messages of [since, until)."""
    question = aliased(Message)
    answers = (
        select(
            func.count(Message.id),
            func.count(Message.evidence),
            func.count(AnswerFlag.message_id),
        )
        .select_from(Message)
        .join(question, question.id == Message.reply_to_id)
        .outerjoin(AnswerFlag, AnswerFlag.message_id == question.id)
        .where(
            Message.role == "assistant",
            question.needs_human.is_(False),
            question.created_at >= since,
            question.created_at < until,
        )
    )
    handed_off = select(func.count(Message.id)).where(
        Message.role == "user",
        Message.needs_human.is_(True),
        Message.created_at >= since,
        Message.created_at < until,
    )
    async with read_transaction(database) as session:
        answered, from_facts, flagged = (await session.execute(answers)).one()
        handed = await session.scalar(handed_off)
    return AnswerStats(answered, from_facts, flagged, handed or 0)
