"""Conversations waiting for a person: handed off by the bot (a message flagged "needs a
human"), taken over with a customer message no operator has answered yet, or a drafted reply
waiting for approval (or approved and not delivered yet)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.vocabulary import MoodLabel
from storage.approvals import SENDING
from storage.database import Database
from storage.models import Approval, Customer, IntentCorrection, Message, Takeover
from storage.transaction import transaction

Reason = Literal["handed off", "taken over", "approval"]
_SCORE: dict[MoodLabel | None, int] = {"negative": 1, None: 0, "neutral": 0, "positive": -1}


@dataclass(frozen=True)
class Waiting:
    chat_id: int
    customer_id: int
    name: str
    username: str | None
    reasons: tuple[Reason, ...]
    since: datetime  # when the oldest message waiting for a person arrived
    mood_label: MoodLabel | None
    mood_confidence: float | None
    text: str
    # What the newest waiting message wants ([triage]; an operator's correction wins); None
    # where it was not read.
    intent: str | None = None

    @property
    def negativity(self) -> float:
        """Negative messages first, most confidently negative first; positive ones last."""
        return _SCORE[self.mood_label] * (self.mood_confidence or 0.0)


async def waiting_for_a_person(database: Database) -> list[Waiting]:
    """Most negative first, then longest waiting first."""
    last_operator = (
        select(
            Message.chat_id,
            Message.customer_id,
            func.max(Message.id).label("last_id"),
        )
        .where(Message.role == "operator")
        .group_by(Message.chat_id, Message.customer_id)
        .subquery()
    )
    after_operator = Message.id > func.coalesce(last_operator.c.last_id, 0)
    joined = (
        select(Message, Customer.name, Customer.username)
        .join(Customer, Customer.id == Message.customer_id)
        .outerjoin(
            last_operator,
            (last_operator.c.chat_id == Message.chat_id)
            & (last_operator.c.customer_id == Message.customer_id),
        )
        .where(Message.role == "user")
    )
    # The bot answers a handed-off message too (it says a person will reply): it waits
    # until an operator writes.
    handed_off = joined.where(Message.needs_human.is_(True), after_operator)
    taken_over = joined.join(
        Takeover,
        (Takeover.chat_id == Message.chat_id) & (Takeover.customer_id == Message.customer_id),
    ).where(Message.status == "human", after_operator)
    # Undecided, or decided to send and not delivered yet (the bot stopped in between).
    approval = joined.join(Approval, Approval.message_id == Message.id).where(
        Approval.decision.is_(None)
        | (Approval.decision.in_(SENDING) & (Message.status != "answered"))
    )
    found: dict[tuple[int, int], list[tuple[Reason, Message, str, str | None]]] = {}
    async with transaction(database) as session:
        for reason, query in (
            ("handed off", handed_off),
            ("taken over", taken_over),
            ("approval", approval),
        ):
            for message, name, username in (await session.execute(query)).all():
                key = (message.chat_id, message.customer_id)
                found.setdefault(key, []).append((reason, message, name, username))  # type: ignore[arg-type]
        corrected = await _corrected_intents(
            session, [max(entry[1].id for entry in entries) for entries in found.values()]
        )
    waiting = [_waiting(entries, corrected) for entries in found.values()]
    return sorted(waiting, key=lambda item: (-item.negativity, item.since))


async def _corrected_intents(session: AsyncSession, message_ids: list[int]) -> dict[int, str]:
    """The latest operator's intent of each of these messages that has one."""
    if not message_ids:
        return {}
    query = (
        select(IntentCorrection.message_id, IntentCorrection.intent)
        .where(IntentCorrection.message_id.in_(message_ids))
        .order_by(IntentCorrection.id)
    )
    # Later corrections overwrite earlier ones.
    return {message_id: intent for message_id, intent in (await session.execute(query)).all()}


def _waiting(
    entries: list[tuple[Reason, Message, str, str | None]], corrected: dict[int, str]
) -> Waiting:
    oldest = min(entries, key=lambda entry: entry[1].id)[1]
    newest = max(entries, key=lambda entry: entry[1].id)[1]
    reasons = tuple(dict.fromkeys(reason for reason, *_ in entries))
    _, _, name, username = entries[0]
    return Waiting(
        chat_id=oldest.chat_id,
        customer_id=oldest.customer_id,
        name=name,
        username=username,
        reasons=reasons,
        since=oldest.created_at,
        mood_label=newest.mood_label,
        mood_confidence=newest.mood_confidence,
        text=newest.text,
        intent=corrected.get(newest.id, newest.intent),
    )
