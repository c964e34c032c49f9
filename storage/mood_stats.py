"""Mood statistics for reports: tagged messages per local day, and who was most unhappy.

Days are calendar days in the report's time zone. Grouping happens here rather than in SQL
because converting to a named time zone (with its daylight-saving rules) is written
differently on every backend; the rows read are two narrow columns per message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func

from engine.vocabulary import MoodLabel
from storage.database import Database
from storage.models import Customer, Message
from storage.mood_log import effective_intent, effective_label, tagged_messages
from storage.transaction import read_transaction


@dataclass(frozen=True)
class DayMoods:
    """How many tagged messages one local day had, per label."""

    day: date
    positive: int = 0
    neutral: int = 0
    negative: int = 0

    @property
    def total(self) -> int:
        return self.positive + self.neutral + self.negative

    @property
    def negative_share(self) -> float | None:
        """The negative fraction of the day's messages; None for a day without any."""
        return self.negative / self.total if self.total else None

    def count(self, label: MoodLabel) -> int:
        return {"positive": self.positive, "neutral": self.neutral, "negative": self.negative}[
            label
        ]


@dataclass(frozen=True)
class MoodStats:
    """Consecutive local days, oldest first, every day present even when it had no messages."""

    time_zone: str
    days: tuple[DayMoods, ...]

    @property
    def first_day(self) -> date:
        return self.days[0].day

    @property
    def last_day(self) -> date:
        return self.days[-1].day

    def count(self, label: MoodLabel) -> int:
        return sum(day.count(label) for day in self.days)

    @property
    def total(self) -> int:
        return sum(day.total for day in self.days)

    @property
    def negative_share(self) -> float | None:
        return self.count("negative") / self.total if self.total else None

    @property
    def is_empty(self) -> bool:
        return self.total == 0


@dataclass(frozen=True)
class IntentMoods:
    """How many tagged messages of a period wanted one thing, and how many of them were
    negative."""

    intent: str
    total: int
    negative: int

    @property
    def negative_share(self) -> float:
        return self.negative / self.total


@dataclass(frozen=True)
class UnhappyCustomer:
    customer_id: int
    name: str
    username: str | None
    negative: int


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def local_days(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The moments [since, until) of the local days `first` to `last`, both included."""
    return local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)


async def daily_moods(
    database: Database, first_day: date, last_day: date, zone: ZoneInfo
) -> MoodStats:
    """Tagged messages per label for each local day from `first_day` to `last_day`, inclusive.

    A human correction counts instead of the model's label.
    """
    if last_day < first_day:
        raise ValueError(f"the period ends ({last_day}) before it starts ({first_day})")
    query = tagged_messages(Message.created_at, effective_label).where(
        Message.created_at >= local_midnight(first_day, zone),
        Message.created_at < local_midnight(last_day + timedelta(days=1), zone),
    )
    async with read_transaction(database) as session:
        rows = (await session.execute(query)).all()
    counts: Counter[tuple[date, str]] = Counter(
        (created_at.astimezone(zone).date(), label) for created_at, label in rows
    )
    span = (last_day - first_day).days + 1
    days = tuple(
        DayMoods(day, counts[day, "positive"], counts[day, "neutral"], counts[day, "negative"])
        for day in (first_day + timedelta(days=offset) for offset in range(span))
    )
    return MoodStats(zone.key, days)


async def moods_by_intent(
    database: Database, since: datetime, until: datetime
) -> list[IntentMoods]:
    """Per intent, the messages of [since, until) and the negative ones among them, most
    messages first. Operators' corrections count for both; messages without an intent (tagged
    while triage was off) are left out."""
    negative = func.sum(case((effective_label == "negative", 1), else_=0))
    query = (
        tagged_messages(effective_intent, func.count(), negative)
        .where(
            effective_intent.is_not(None),
            Message.created_at >= since,
            Message.created_at < until,
        )
        .group_by(effective_intent)
    )
    async with read_transaction(database) as session:
        rows = (await session.execute(query)).all()
    found = [IntentMoods(intent, total, int(negatives or 0)) for intent, total, negatives in rows]
    return sorted(found, key=lambda row: (-row.total, row.intent))


async def most_negative_customers(
    database: Database, since: datetime, until: datetime, limit: int
) -> list[UnhappyCustomer]:
    """The customers with the most negative messages in [since, until), most first."""
    negative = func.count().label("negative")
    query = (
        tagged_messages(Message.customer_id, Customer.name, Customer.username, negative)
        .join(Customer, Customer.id == Message.customer_id)
        .where(
            effective_label == "negative",
            Message.created_at >= since,
            Message.created_at < until,
        )
        .group_by(Message.customer_id, Customer.name, Customer.username)
        .order_by(negative.desc(), Message.customer_id)
        .limit(limit)
    )
    async with read_transaction(database) as session:
        rows = (await session.execute(query)).all()
    return [UnhappyCustomer(*row) for row in rows]
