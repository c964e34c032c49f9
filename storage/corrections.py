"""The operators' corrections beside the model's labels: what calibration and the agreement
rate learn from. A message corrected several times counts with its latest correction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from engine.vocabulary import MoodLabel
from storage.database import Database
from storage.models import Message, MoodCorrection
from storage.transaction import transaction


@dataclass(frozen=True)
class CorrectedMessage:
    text: str
    model_label: MoodLabel
    human_label: MoodLabel


async def corrected_messages(
    database: Database, since: datetime | None = None, until: datetime | None = None
) -> list[CorrectedMessage]:
    """Messages with an operator's label, by when they were written."""
    latest = (
        select(MoodCorrection.message_id, func.max(MoodCorrection.id).label("correction_id"))
        .group_by(MoodCorrection.message_id)
        .subquery()
    )
    query = (
        select(Message.text, Message.mood_label, MoodCorrection.label)
        .join(latest, latest.c.message_id == Message.id)
        .join(MoodCorrection, MoodCorrection.id == latest.c.correction_id)
        .where(Message.mood_label.is_not(None))
        .order_by(Message.id)
    )
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    async with transaction(database) as session:
        rows = (await session.execute(query)).all()
    return [CorrectedMessage(text, model, human) for text, model, human in rows]


def agreement(corrected: list[CorrectedMessage]) -> float | None:
    """The share of corrected messages where the operator kept the model's label."""
    if not corrected:
        return None
    return sum(item.model_label == item.human_label for item in corrected) / len(corrected)
