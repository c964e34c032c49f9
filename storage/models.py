"""The relational schema: customers, their messages and moods, conversation resets, corrections."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from engine.vocabulary import INTENT_NAME_LENGTH, MOOD_LABELS, MoodLabel
from storage.records import ROLES, STATUSES, Role, Status
from storage.utc_datetime import UTCDateTime, utc_now


def _one_of(column: str, values: Iterable[str]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Every table of the schema. A change here needs an Alembic revision in
    storage/migrations/versions/ (see the README); a test fails until they agree."""

    # Deterministic constraint names, so that a later migration can name them on every backend.
    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        }
    )


class Customer(Base):
    __tablename__ = "customers"

    # The Telegram user id; those exceed 32 bits.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Telegram re-delivers an update it thinks was not received; it is stored once.
        UniqueConstraint("chat_id", "telegram_message_id"),
        # A customer's message gets one answer, however often answering is retried.
        UniqueConstraint("reply_to_id"),
        CheckConstraint(_one_of("role", ROLES), name="role"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        CheckConstraint(_one_of("mood_label", MOOD_LABELS), name="mood_label"),
        Index("ix_messages_customer_id_created_at", "customer_id", "created_at"),
        Index("ix_messages_status", "status"),
        Index("ix_messages_mood_label_created_at", "mood_label", "created_at"),
        Index("ix_messages_needs_human", "needs_human"),
        Index("ix_messages_intent_created_at", "intent", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    mood_label: Mapped[MoodLabel | None] = mapped_column(String(16))
    mood_confidence: Mapped[float | None]
    status: Mapped[Status] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # Who of the team wrote an "operator" message.
    operator_id: Mapped[int | None] = mapped_column(BigInteger)
    # What a negative message complains about: 1–4 keywords in its language, one per line.
    keywords: Mapped[str | None] = mapped_column(Text)
    # The bot could not answer this by itself and handed it to a person.
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    handed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # On the bot's answer: the statements of the facts it rests on, one per line.
    evidence: Mapped[str | None] = mapped_column(Text)
    # What the customer wants (one of the configured [triage] intents when it was tagged) and
    # the model's probability for it; None where triage was off.
    intent: Mapped[str | None] = mapped_column(String(INTENT_NAME_LENGTH))
    intent_confidence: Mapped[float | None]


class ConversationReset(Base):
    """A /reset: the customer's earlier turns in that chat no longer reach the model."""

    __tablename__ = "conversation_resets"
    __table_args__ = (
        Index("ix_conversation_resets_customer_id_chat_id", "customer_id", "chat_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class MoodCorrection(Base):
    """An operator's label for a message, kept beside the model's so both can be compared."""

    __tablename__ = "mood_corrections"
    __table_args__ = (CheckConstraint(_one_of("label", MOOD_LABELS), name="label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[MoodLabel] = mapped_column(String(16))
    operator_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class IntentCorrection(Base):
    """An operator's intent for a message, kept beside the model's like a mood correction."""

    __tablename__ = "intent_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    intent: Mapped[str] = mapped_column(String(INTENT_NAME_LENGTH))
    operator_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class DeskTopic(Base):
    """The forum topic of a customer in the operators' chat."""

    __tablename__ = "desk_topics"
    __table_args__ = (UniqueConstraint("desk_chat_id", "thread_id"),)

    desk_chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    thread_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(128))
    titled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class DeskPost(Base):
    """A message the bot posted in the operators' chat about a customer (an alert, a mirrored
    message), so that an operator's reply to it reaches that customer."""

    __tablename__ = "desk_posts"

    desk_chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    telegram_message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger)


class Takeover(Base):
    """An operator answers this customer in this chat; the bot stays silent until it ends."""

    __tablename__ = "takeovers"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    operator_id: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # The operators' last message: the idle timeout counts from it (a customer writing on to
    # an abandoned takeover must not keep it alive).
    active_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


DECISIONS = ("sent", "edited", "discarded")


class Approval(Base):
    """A drafted reply waiting for (or given) an operator's decision."""

    __tablename__ = "approvals"
    __table_args__ = (CheckConstraint(_one_of("decision", DECISIONS), name="decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    draft: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    decision: Mapped[str | None] = mapped_column(String(16))
    operator_id: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_text: Mapped[str | None] = mapped_column(Text)


class ApprovalEdit(Base):
    """An operator pressed Edit under a draft: their next message in that chat (and topic) is
    the corrected reply. Stored, so that it outlasts a restart and reaches whichever process
    gets that message."""

    __tablename__ = "approval_edits"

    desk_chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The forum topic the draft is in; 0 outside topics.
    thread_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    operator_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    approval_id: Mapped[int] = mapped_column(
        ForeignKey("approvals.id", ondelete="CASCADE"), index=True
    )


class Rating(Base):
    """A customer's 1–5 rating of a conversation that ended, asked once."""

    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="score"),
        Index("ix_ratings_asked_at", "asked_at"),
        # A conversation is rated once: one request per customer message it ended after,
        # however many processes notice that it ended.
        UniqueConstraint("chat_id", "customer_id", "last_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # Why the conversation ended: "close" (an operator), "reset" (the customer), "idle".
    ended_by: Mapped[str] = mapped_column(String(16))
    # The customer's last message in the conversation that ended (NULL: asked before this was
    # recorded, or its conversation was forgotten).
    last_message_id: Mapped[int | None] = mapped_column(Integer)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    score: Mapped[int | None]
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UpdateClaim(Base):
    """A Telegram update one bot process took on: when several receive the same update, the
    one whose claim is stored first handles it and the others leave it."""

    __tablename__ = "update_claims"

    # What the update is about: a message ("message:<chat>:<id>") or a button press
    # ("button:<query id>"); unique for good, unlike update ids, which Telegram may reuse.
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)


class AnswerDelivery(Base):
    """An answer on its way to Telegram, kept until the customer's message is answered, so that
    a restart after a crash finishes it instead of sending it again.

    Written in two steps: the placeholder a group sees while the answer is generated (its
    Telegram id), then the final text together with its planned parts.
    """

    __tablename__ = "answer_deliveries"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    # The delivered answer, "<emoji> <reply>"; NULL while the reply is still being generated.
    text: Mapped[str | None] = mapped_column(Text)
    placeholder_telegram_id: Mapped[int | None] = mapped_column(BigInteger)


class DeliveredPart(Base):
    """One Telegram message of an answer: planned with its text, delivered once it has an id.
    The parts cannot be rebuilt from the answer text (the split drops whitespace at its cuts),
    so each is stored as it will be sent."""

    __tablename__ = "delivered_parts"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("answer_deliveries.message_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    text: Mapped[str] = mapped_column(Text)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)


class AnswerFlag(Base):
    """An operator marked the bot's answer to this customer message as wrong."""

    __tablename__ = "answer_flags"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    operator_id: Mapped[int] = mapped_column(BigInteger)
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)


class DeskFact(Base):
    """A customer's question with an operator's answer, saved from the desk as a fact the bot
    answers from. It goes with the customer's data when they ask to be forgotten (it holds
    their words); removed facts stay, marked, so the gaps report still counts them."""

    __tablename__ = "desk_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    question_message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    # The operator's message it was saved from: saved once, however often the button is pressed.
    answer_message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    operator_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    removed_by: Mapped[int | None] = mapped_column(BigInteger)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
