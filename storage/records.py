"""Plain values that cross the storage boundary, so callers never hold ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from engine.vocabulary import MoodLabel

Role = Literal["user", "assistant"]
Status = Literal["pending", "answered", "failed"]

ROLES: tuple[Role, ...] = get_args(Role)
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True)
class CustomerInfo:
    """Who wrote a message, as the chat platform describes them right now."""

    id: int
    name: str
    username: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    """One persisted message: a customer's (role "user") or the bot's answer (role "assistant")."""

    id: int
    chat_id: int
    customer_id: int
    role: Role
    text: str
    telegram_message_id: int | None
    created_at: datetime
    mood_label: MoodLabel | None
    mood_confidence: float | None
    status: Status


@dataclass(frozen=True)
class HistoryTurn:
    """One earlier turn of a conversation, ready for a chat template."""

    role: Role
    text: str


@dataclass(frozen=True)
class PlannedPart:
    """One Telegram message of an answer; `telegram_message_id` is None until it is delivered."""

    position: int
    text: str
    telegram_message_id: int | None


@dataclass(frozen=True)
class AnswerDeliveryRecord:
    """What is known of an answer on its way: the placeholder a group saw, and once the answer
    is final, its text and parts in order."""

    text: str | None
    placeholder_telegram_id: int | None
    parts: tuple[PlannedPart, ...]
