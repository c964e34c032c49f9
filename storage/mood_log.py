"""The mood log as operators read it: customers' tagged messages, newest first, with the
model's label and any human correction side by side."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import aliased

from engine.vocabulary import MoodLabel
from storage.database import Database
from storage.models import Customer, IntentCorrection, Message, MoodCorrection
from storage.transaction import read_transaction

# The latest correction of each message: corrections are only ever added, so the highest id
# is the newest, and earlier ones stay in the table for the record (and the export).
_latest = (
    select(
        MoodCorrection.message_id.label("message_id"),
        func.max(MoodCorrection.id).label("correction_id"),
    )
    .group_by(MoodCorrection.message_id)
    .subquery("latest_correction")
)
_correction = aliased(MoodCorrection, name="correction")
_latest_intent = (
    select(
        IntentCorrection.message_id.label("message_id"),
        func.max(IntentCorrection.id).label("correction_id"),
    )
    .group_by(IntentCorrection.message_id)
    .subquery("latest_intent_correction")
)
_intent_correction = aliased(IntentCorrection, name="intent_correction")

effective_label: ColumnElement[str] = func.coalesce(_correction.label, Message.mood_label)
"""The label that counts in filters and statistics: a human's correction wins over the model."""

effective_intent: ColumnElement[str | None] = func.coalesce(
    _intent_correction.intent, Message.intent
)
"""The intent that counts, likewise: an operator's correction wins over the model's."""


def tagged_messages(*columns: Any) -> Select[Any]:
    """SELECT `columns` from customers' tagged messages, joined to their latest correction."""
    return (
        select(*columns)
        .select_from(Message)
        .outerjoin(_latest, _latest.c.message_id == Message.id)
        .outerjoin(_correction, _correction.id == _latest.c.correction_id)
        .outerjoin(_latest_intent, _latest_intent.c.message_id == Message.id)
        .outerjoin(_intent_correction, _intent_correction.id == _latest_intent.c.correction_id)
        .where(Message.role == "user", Message.mood_label.is_not(None))
    )


@dataclass(frozen=True)
class Correction:
    """A human's label for a message."""

    label: MoodLabel
    operator_id: int
    created_at: datetime


@dataclass(frozen=True)
class MoodLogEntry:
    """One tagged customer message."""

    message_id: int
    chat_id: int
    customer_id: int
    customer_name: str
    customer_username: str | None
    text: str
    created_at: datetime
    model_label: MoodLabel
    model_confidence: float
    correction: Correction | None = None
    # What a negative message complains about (engine.keywords), once the model has said.
    keywords: tuple[str, ...] = ()
    # Handed to a colleague because the facts did not answer it, and why.
    handoff_reason: str | None = None
    # What the customer wants, as the model read it ([triage]) and as an operator corrected it.
    model_intent: str | None = None
    model_intent_confidence: float | None = None
    intent_correction: str | None = None

    @property
    def intent(self) -> str | None:
        """The latest operator's intent if there is one, else the model's."""
        return self.intent_correction or self.model_intent

    @property
    def needs_human(self) -> bool:
        return self.handoff_reason is not None

    @property
    def label(self) -> MoodLabel:
        """The latest human correction if there is one, else the model's label."""
        return self.correction.label if self.correction is not None else self.model_label


@dataclass(frozen=True)
class MoodFilter:
    """Which entries to show; every field left None matches everything."""

    label: MoodLabel | None = None
    since: datetime | None = None
    until: datetime | None = None
    customer_id: int | None = None
    intent: str | None = None
    # Messages stored after a listing began are left out of its later pages, so paging
    # through a busy log neither repeats nor skips entries.
    up_to_message_id: int | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.label is not None:
            found.append(effective_label == self.label)
        if self.since is not None:
            found.append(Message.created_at >= self.since)
        if self.until is not None:
            found.append(Message.created_at < self.until)
        if self.customer_id is not None:
            found.append(Message.customer_id == self.customer_id)
        if self.intent is not None:
            found.append(effective_intent == self.intent)
        if self.up_to_message_id is not None:
            found.append(Message.id <= self.up_to_message_id)
        return found


@dataclass(frozen=True)
class MoodLogPage:
    entries: list[MoodLogEntry]
    total: int
    # The filter with up_to_message_id fixed, for asking for the next pages.
    mood_filter: MoodFilter


class MoodLog:
    """Read access to the mood log; each call is its own short transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def entries(
        self, mood_filter: MoodFilter, *, limit: int | None = None, offset: int = 0
    ) -> list[MoodLogEntry]:
        """Matching entries, newest first."""
        query = (
            tagged_messages(Message, Customer, _correction, _intent_correction.intent)
            .join(Customer, Customer.id == Message.customer_id)
            .where(*mood_filter.clauses())
            .order_by(Message.created_at.desc(), Message.id.desc())
            .offset(offset)
            .limit(limit)
        )
        async with read_transaction(self._database) as session:
            rows = (await session.execute(query)).all()
        return [_entry(*row) for row in rows]

    async def count(self, mood_filter: MoodFilter) -> int:
        query = tagged_messages(func.count()).where(*mood_filter.clauses())
        async with read_transaction(self._database) as session:
            return await session.scalar(query) or 0

    async def page(self, mood_filter: MoodFilter, number: int, size: int) -> MoodLogPage:
        """Page `number` (0 is the newest) of `size` entries, and how many match in all."""
        if mood_filter.up_to_message_id is None:
            async with read_transaction(self._database) as session:
                newest = await session.scalar(select(func.max(Message.id)))
            mood_filter = replace(mood_filter, up_to_message_id=newest or 0)
        total = await self.count(mood_filter)
        entries = await self.entries(mood_filter, limit=size, offset=number * size)
        return MoodLogPage(entries, total, mood_filter)

    async def customer_id_by_username(self, username: str) -> int | None:
        """The id of the customer with this Telegram username (without "@", any case)."""
        query = select(Customer.id).where(func.lower(Customer.username) == username.lower())
        async with read_transaction(self._database) as session:
            return await session.scalar(query.order_by(Customer.last_seen.desc()).limit(1))


def _entry(
    message: Message,
    customer: Customer,
    correction: MoodCorrection | None,
    intent_correction: str | None,
) -> MoodLogEntry:
    # tagged_messages() only selects messages that have a mood.
    assert message.mood_label is not None and message.mood_confidence is not None
    return MoodLogEntry(
        message_id=message.id,
        chat_id=message.chat_id,
        customer_id=message.customer_id,
        customer_name=customer.name,
        customer_username=customer.username,
        text=message.text,
        created_at=message.created_at,
        model_label=message.mood_label,
        model_confidence=message.mood_confidence,
        keywords=tuple(message.keywords.splitlines()) if message.keywords else (),
        correction=None
        if correction is None
        else Correction(correction.label, correction.operator_id, correction.created_at),
        handoff_reason=(message.handoff_reason or "handed off") if message.needs_human else None,
        model_intent=message.intent,
        model_intent_confidence=message.intent_confidence,
        intent_correction=intent_correction,
    )
