"""The operators' desk in the database: customers' forum topics, the posts that lead back to a
customer, takeovers by an operator, and the operators' own messages to customers."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.vocabulary import MoodLabel
from storage.database import Database
from storage.errors import MessageNotFoundError
from storage.insert_or_ignore import insert_or_ignore
from storage.models import Customer, DeskPost, DeskTopic, Message, Takeover
from storage.mood_log import effective_intent, tagged_messages
from storage.records import StoredMessage
from storage.store import stored_message
from storage.transaction import read_transaction, transaction


@dataclass(frozen=True)
class TopicRecord:
    desk_chat_id: int
    customer_id: int
    thread_id: int
    title: str
    titled_at: datetime


@dataclass(frozen=True)
class Conversation:
    """A customer in one chat with the bot."""

    chat_id: int
    customer_id: int


@dataclass(frozen=True)
class CustomerSummary:
    """What a customer's topic title shows."""

    name: str
    username: str | None
    moods: tuple[MoodLabel, ...]  # newest first
    keywords: tuple[str, ...]  # of the newest message that has any
    # What the newest message wants ([triage]; an operator's correction wins), if it was read.
    intent: str | None = None


@dataclass(frozen=True)
class DeskTraces:
    """What the desk posted about a customer in Telegram: their topics, and every post (those
    in a topic go with it)."""

    topics: tuple[TopicRecord, ...]
    posts: tuple[tuple[int, int], ...]  # (desk chat, Telegram message id)


@dataclass(frozen=True)
class TakeoverRecord:
    chat_id: int
    customer_id: int
    operator_id: int
    started_at: datetime
    active_at: datetime


class DeskStore:
    """Each method is its own transaction and raises StorageError when the database fails."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # --- topics ------------------------------------------------------------------------------

    async def topic(self, desk_chat_id: int, customer_id: int) -> TopicRecord | None:
        async with self._reading() as session:
            row = await session.get(DeskTopic, (desk_chat_id, customer_id))
            return None if row is None else _topic(row)

    async def save_topic(
        self, desk_chat_id: int, customer_id: int, thread_id: int, title: str, at: datetime
    ) -> None:
        """The customer's topic, new or recreated after it was deleted."""
        values = {
            "desk_chat_id": desk_chat_id,
            "customer_id": customer_id,
            "thread_id": thread_id,
            "title": title,
            "titled_at": at,
        }
        async with self._transaction() as session:
            if not await insert_or_ignore(session, DeskTopic, values):
                await session.execute(
                    update(DeskTopic)
                    .where(
                        DeskTopic.desk_chat_id == desk_chat_id,
                        DeskTopic.customer_id == customer_id,
                    )
                    .values(thread_id=thread_id, title=title, titled_at=at)
                )

    async def retitle(self, desk_chat_id: int, customer_id: int, title: str, at: datetime) -> None:
        async with self._transaction() as session:
            row = await session.get(DeskTopic, (desk_chat_id, customer_id))
            if row is not None:
                row.title, row.titled_at = title, at

    async def customer_of_topic(self, desk_chat_id: int, thread_id: int) -> int | None:
        query = select(DeskTopic.customer_id).where(
            DeskTopic.desk_chat_id == desk_chat_id, DeskTopic.thread_id == thread_id
        )
        async with self._reading() as session:
            return await session.scalar(query)

    async def customer_summary(self, customer_id: int, moods: int) -> CustomerSummary | None:
        """The customer's name, their last `moods` moods and the newest message's intent; None
        once they are forgotten."""
        recent = (
            tagged_messages(Message.mood_label, Message.keywords, effective_intent)
            .where(Message.customer_id == customer_id)
            .order_by(Message.id.desc())
            .limit(moods)
        )
        async with self._reading() as session:
            customer = await session.get(Customer, customer_id)
            if customer is None:
                return None
            rows = (await session.execute(recent)).all()
        keywords = next((words for _, words, _ in rows if words), None)
        return CustomerSummary(
            customer.name,
            customer.username,
            tuple(label for label, _, _ in rows),
            tuple(keywords.splitlines()) if keywords else (),
            rows[0][2] if rows else None,
        )

    async def set_keywords(self, message_id: int, keywords: list[str]) -> None:
        """What a negative message complains about; nothing happens to a forgotten message."""
        async with self._transaction() as session:
            message = await session.get(Message, message_id)
            if message is not None:
                message.keywords = "\n".join(keywords) or None

    # --- posts -------------------------------------------------------------------------------

    async def remember_post(
        self, desk_chat_id: int, telegram_message_id: int, conversation: Conversation
    ) -> None:
        async with self._transaction() as session:
            await session.merge(
                DeskPost(
                    desk_chat_id=desk_chat_id,
                    telegram_message_id=telegram_message_id,
                    customer_id=conversation.customer_id,
                    chat_id=conversation.chat_id,
                )
            )

    async def conversation_of_post(
        self, desk_chat_id: int, telegram_message_id: int
    ) -> Conversation | None:
        async with self._reading() as session:
            row = await session.get(DeskPost, (desk_chat_id, telegram_message_id))
            return None if row is None else Conversation(row.chat_id, row.customer_id)

    async def has_private_chat(self, customer_id: int) -> bool:
        """Whether the customer ever wrote to the bot in their private chat with it (whose id
        is theirs): only then may the bot write to them there."""
        query = select(
            exists().where(Message.chat_id == customer_id, Message.customer_id == customer_id)
        )
        async with self._reading() as session:
            return bool(await session.scalar(query))

    async def latest_conversation(self, customer_id: int) -> Conversation | None:
        """The chat the customer last wrote to the bot in."""
        query = (
            select(Message.chat_id)
            .where(Message.customer_id == customer_id, Message.role == "user")
            .order_by(Message.id.desc())
            .limit(1)
        )
        async with self._reading() as session:
            chat_id = await session.scalar(query)
        return None if chat_id is None else Conversation(chat_id, customer_id)

    async def traces(self, customer_id: int) -> DeskTraces:
        topics = select(DeskTopic).where(DeskTopic.customer_id == customer_id)
        posts = select(DeskPost.desk_chat_id, DeskPost.telegram_message_id).where(
            DeskPost.customer_id == customer_id
        )
        async with self._reading() as session:
            return DeskTraces(
                tuple(_topic(row) for row in await session.scalars(topics)),
                tuple((chat, message) for chat, message in (await session.execute(posts)).all()),
            )

    # --- takeovers ---------------------------------------------------------------------------

    async def take_over(self, conversation: Conversation, operator_id: int, at: datetime) -> bool:
        """The operator answers this conversation from now on; False if it was taken over
        already (the time of the operators' last message moves on either way)."""
        values = {
            "chat_id": conversation.chat_id,
            "customer_id": conversation.customer_id,
            "operator_id": operator_id,
            "started_at": at,
            "active_at": at,
        }
        async with self._transaction() as session:
            if await insert_or_ignore(session, Takeover, values):
                return True
            await session.execute(
                update(Takeover)
                .where(
                    Takeover.chat_id == conversation.chat_id,
                    Takeover.customer_id == conversation.customer_id,
                )
                .values(active_at=at)
            )
            return False

    async def takeover(self, conversation: Conversation) -> TakeoverRecord | None:
        async with self._reading() as session:
            row = await session.get(Takeover, (conversation.chat_id, conversation.customer_id))
            return None if row is None else _takeover(row)

    async def takeovers_of(self, customer_id: int) -> list[TakeoverRecord]:
        """The customer's conversations an operator has, in any chat."""
        query = select(Takeover).where(Takeover.customer_id == customer_id)
        async with self._reading() as session:
            return [_takeover(row) for row in await session.scalars(query)]

    async def hand_back(self, conversation: Conversation) -> bool:
        """The bot answers again; False if the conversation was not taken over."""
        statement = delete(Takeover).where(
            Takeover.chat_id == conversation.chat_id,
            Takeover.customer_id == conversation.customer_id,
        )
        async with self._transaction() as session:
            result = await session.execute(statement)
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def idle_takeovers(self, quiet_since: datetime) -> list[TakeoverRecord]:
        """Takeovers without an operator's message since `quiet_since`."""
        query = select(Takeover).where(Takeover.active_at < quiet_since)
        async with self._reading() as session:
            return [_takeover(row) for row in await session.scalars(query)]

    # --- the operators' messages -------------------------------------------------------------

    async def record_operator_message(
        self,
        conversation: Conversation,
        operator_id: int,
        text: str,
        telegram_message_id: int | None,
        at: datetime,
    ) -> StoredMessage:
        """An operator's message as delivered to the customer: a turn of their history."""
        async with self._transaction() as session:
            message = Message(
                chat_id=conversation.chat_id,
                customer_id=conversation.customer_id,
                role="operator",
                text=text,
                telegram_message_id=telegram_message_id,
                created_at=at,
                status="answered",
                operator_id=operator_id,
            )
            session.add(message)
            await session.flush()
            return stored_message(message)

    async def leave_to_the_team(self, message_id: int) -> None:
        """The customer's message gets no model reply: an operator has the conversation."""
        async with self._transaction() as session:
            message = await session.get(Message, message_id, with_for_update=True)
            if message is None:
                raise MessageNotFoundError(message_id)
            if message.status == "pending":
                message.status = "human"

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        return transaction(self._database)

    def _reading(self) -> AbstractAsyncContextManager[AsyncSession]:
        return read_transaction(self._database)


def _topic(row: DeskTopic) -> TopicRecord:
    return TopicRecord(row.desk_chat_id, row.customer_id, row.thread_id, row.title, row.titled_at)


def _takeover(row: Takeover) -> TakeoverRecord:
    return TakeoverRecord(
        row.chat_id, row.customer_id, row.operator_id, row.started_at, row.active_at
    )
