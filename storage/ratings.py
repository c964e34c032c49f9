"""Customers' 1–5 ratings of conversations that ended, and what the desk learns from them:
ratings, time to a person's first answer after a hand-off, and recovery from a bad start."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Literal

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.insert_or_ignore import insert_or_ignore_returning
from storage.models import Message, Rating
from storage.transaction import transaction

EndedBy = Literal["close", "reset", "idle"]
GOOD_SCORE = 4


@dataclass(frozen=True)
class RatingStats:
    asked: int
    rated: int
    average: float | None
    # Handed-off messages that got an operator's answer, and the median wait for it.
    handoffs_answered: int
    first_human_answer_seconds: float | None
    # Conversations whose first customer message was negative, and how many of them ended
    # positive or were rated GOOD_SCORE or better.
    opened_negative: int
    recovered: int

    @property
    def response_rate(self) -> float | None:
        return self.rated / self.asked if self.asked else None

    @property
    def recovery_rate(self) -> float | None:
        return self.recovered / self.opened_negative if self.opened_negative else None


class Ratings:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def ask(
        self, chat_id: int, customer_id: int, ended_by: EndedBy, at: datetime
    ) -> int | None:
        """A rating request for the conversation that just ended; None when its customer was
        asked already since they last wrote (a conversation is rated once, however many
        processes see it end) or never wrote."""
        async with self._transaction() as session:
            last_message = await session.scalar(
                select(func.max(Message.id)).where(
                    Message.chat_id == chat_id,
                    Message.customer_id == customer_id,
                    Message.role == "user",
                )
            )
            if last_message is None:
                return None
            values = {
                "chat_id": chat_id,
                "customer_id": customer_id,
                "ended_by": ended_by,
                "asked_at": at,
                "last_message_id": last_message,
            }
            rating_id: int | None = await insert_or_ignore_returning(
                session, Rating, values, Rating.id
            )
            return rating_id

    async def rate(self, rating_id: int, customer_id: int, score: int, at: datetime) -> bool:
        """Store the customer's score unless they rated already; True if this one counts."""
        if not 1 <= score <= 5:
            raise ValueError(f"a rating is 1 to 5, got {score}")
        statement = (
            update(Rating)
            .where(
                Rating.id == rating_id,
                Rating.customer_id == customer_id,
                Rating.score.is_(None),
            )
            .values(score=score, rated_at=at)
        )
        async with self._transaction() as session:
            result = await session.execute(statement)
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def idle_conversations(
        self, quiet_since: datetime, active_since: datetime
    ) -> list[tuple[int, int]]:
        """(chat, customer) of conversations whose last message of either side is between
        `active_since` and `quiet_since` and that were not asked for a rating since the
        customer's last message."""
        last = (
            select(
                Message.chat_id,
                Message.customer_id,
                func.max(Message.created_at).label("last_at"),
                func.max(case((Message.role == "user", Message.id))).label("last_message_id"),
            )
            .group_by(Message.chat_id, Message.customer_id)
            .subquery()
        )
        asked = (
            select(Rating.id)
            .where(
                Rating.chat_id == last.c.chat_id,
                Rating.customer_id == last.c.customer_id,
                Rating.last_message_id == last.c.last_message_id,
            )
            .exists()
        )
        query = select(last.c.chat_id, last.c.customer_id).where(
            and_(
                last.c.last_at < quiet_since,
                last.c.last_at >= active_since,
                last.c.last_message_id.is_not(None),
                ~asked,
            )
        )
        async with self._transaction() as session:
            return [(chat, customer) for chat, customer in (await session.execute(query)).all()]

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        return transaction(self._database)


async def rating_stats(database: Database, since: datetime, until: datetime) -> RatingStats:
    """What the conversations that ended in [since, until) say about the desk."""
    async with transaction(database) as session:
        ratings = (
            await session.scalars(
                select(Rating)
                .where(Rating.asked_at >= since, Rating.asked_at < until)
                .order_by(Rating.asked_at)
            )
        ).all()
        scores = [rating.score for rating in ratings if rating.score is not None]
        opened_negative = recovered = 0
        for rating in ratings:
            previous = await session.scalar(
                select(func.max(Rating.asked_at)).where(
                    Rating.chat_id == rating.chat_id,
                    Rating.customer_id == rating.customer_id,
                    Rating.asked_at < rating.asked_at,
                )
            )
            moods = (
                await session.scalars(
                    select(Message.mood_label)
                    .where(
                        Message.chat_id == rating.chat_id,
                        Message.customer_id == rating.customer_id,
                        Message.role == "user",
                        Message.mood_label.is_not(None),
                        Message.created_at <= rating.asked_at,
                        *(() if previous is None else (Message.created_at > previous,)),
                    )
                    .order_by(Message.id)
                )
            ).all()
            if moods and moods[0] == "negative":
                opened_negative += 1
                good_score = rating.score is not None and rating.score >= GOOD_SCORE
                if moods[-1] == "positive" or good_score:
                    recovered += 1
        waits = await _first_human_answer_waits(session, since, until)
    return RatingStats(
        asked=len(ratings),
        rated=len(scores),
        average=sum(scores) / len(scores) if scores else None,
        handoffs_answered=len(waits),
        first_human_answer_seconds=median(waits) if waits else None,
        opened_negative=opened_negative,
        recovered=recovered,
    )


async def _first_human_answer_waits(
    session: AsyncSession, since: datetime, until: datetime
) -> list[float]:
    handed = (
        await session.execute(
            select(Message.chat_id, Message.customer_id, Message.id, Message.created_at).where(
                Message.needs_human.is_(True),
                Message.created_at >= since,
                Message.created_at < until,
            )
        )
    ).all()
    waits = []
    for chat_id, customer_id, message_id, created_at in handed:
        answered_at = await session.scalar(
            select(func.min(Message.created_at)).where(
                Message.chat_id == chat_id,
                Message.customer_id == customer_id,
                Message.role == "operator",
                Message.id > message_id,
            )
        )
        if answered_at is not None:
            waits.append((answered_at - created_at).total_seconds())
    return waits
