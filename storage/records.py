"""Plain values that cross the storage boundary, so callers never hold ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from engine.vocabulary import MoodLabel

# "operator": a person of the support team wrote to the customer through the bot.
Role = Literal["user", "assistant", "operator"]
# "human": a customer's message that the bot leaves to the team (the conversation is taken over).
Status = Literal["pending", "answered", "failed", "human"]

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
    """One persisted message: a customer's (role "user"), the bot's answer (role "assistant") or
    an operator's (role "operator")."""

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
    # Handed to a colleague: the facts did not answer it (see Store.mark_handed_off).
    needs_human: bool = False
    handoff_reason: str | None = None
    handed_off_at: datetime | None = None
    # What the customer wants ([triage] intents) and the model's confidence in it.
    intent: str | None = None
    intent_confidence: float | None = None


@dataclass(frozen=True)
class HistoryTurn:
    """One earlier turn of a conversation, ready for a chat template; a customer's turn carries
    the mood it was answered with."""

    role: Role
    text: str
    mood: MoodLabel | None = None


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
