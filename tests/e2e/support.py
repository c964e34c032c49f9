"""What the end-to-end tests share: the bot's configuration, stand-in engines, the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar, cast

from sqlalchemy import func, select

from bench.fake_telegram import FakeTelegram
from bot.config import Config, DatabaseConfig, TelegramConfig
from bot.service import BotService
from engine.knowledge.base import DeskFact
from engine.mood_engine import MoodEngine
from engine.protocol import Engine
from engine.reply_stream import ReplyStream
from engine.types import GroundedReply, Mood, Turn
from engine.vocabulary import MOOD_EMOJI, MoodLabel
from storage import Database
from storage.models import Customer, Message

T = TypeVar("T")

# Generous for two slow cores, yet a hung bot fails the test in seconds, not minutes.
ANSWER_TIMEOUT = 30.0


UNLIMITED = {"max_requests_per_second": 10000.0, "max_group_requests_per_minute": 100000.0}


def bot_config(fake: FakeTelegram, database_url: str, **telegram: object) -> Config:
    """The bot's config against `fake`; `telegram` overrides the [telegram] defaults."""
    values: dict[str, object] = {
        "poll_timeout": 1,
        "stream_edit_interval": 0.05,
        # Streams edit far faster than Telegram allows; the flood limits have tests of their own.
        **UNLIMITED,
        **telegram,
    }
    return Config(
        telegram=TelegramConfig(
            token=fake.token,
            base_url=fake.base_url,
            base_file_url=f"{fake.url}/file/bot",
            **values,  # type: ignore[arg-type]
        ),
        database=DatabaseConfig(url=database_url),
    )


@asynccontextmanager
async def running(
    config: Config, engine: object, stop_deadline: float | None = None
) -> AsyncIterator[BotService]:
    """A started bot; `engine` is a MoodEngine or a stand-in with the two methods the bot's
    answers use (classify and reply). A stop slower than `stop_deadline` fails the test."""
    service = BotService(config, cast(Engine, engine))
    await service.start()
    try:
        yield service
    finally:
        await asyncio.wait_for(service.stop(), stop_deadline)


# --- stand-in engines ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyCall:
    """What the pipeline gave the engine for one reply."""

    text: str
    history: tuple[Turn, ...]
    mood: Mood
    conversation: str | None = None


class SpyEngine:
    """A real engine that records what every reply was asked with.

    `steer`, when given, picks each message's mood from its text after the real classification
    ran, so that a test controls which emoji each answer must carry.
    """

    def __init__(self, inner: MoodEngine, steer: Callable[[str], MoodLabel] | None = None) -> None:
        self.inner = inner
        self.steer = steer
        self.calls: list[ReplyCall] = []
        self.forgotten: list[str] = []

    async def classify(self, text: str) -> Mood:
        mood = await self.inner.classify(text)
        return mood if self.steer is None else Mood(self.steer(text), mood.confidence)

    def forget_conversation(self, conversation: str) -> None:
        self.forgotten.append(conversation)
        self.inner.forget_conversation(conversation)

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> None:
        self.inner.set_desk_facts(facts)

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStream:
        self.calls.append(ReplyCall(text, tuple(history), mood, conversation))
        return self.inner.reply(history, text, mood, conversation=conversation)

    def history_for(self, text: str) -> tuple[Turn, ...]:
        (call,) = [call for call in self.calls if call.text == text]
        return call.history


class ScriptedEngine:
    """Gives every message the same mood and the same reply, streamed in `pieces` deltas
    `delay` seconds apart: for tests about what happens to a reply on its way, not about how
    it is written."""

    def __init__(
        self, reply: str, mood: MoodLabel = "neutral", pieces: int = 12, delay: float = 0.03
    ) -> None:
        self.answer = reply
        self.mood = Mood(mood, 0.9)
        size = max(1, len(reply) // pieces)
        self._pieces = [reply[start : start + size] for start in range(0, len(reply), size)]
        self._delay = delay

    async def classify(self, text: str) -> Mood:
        return self.mood

    def forget_conversation(self, conversation: str) -> None:
        """Nothing is cached per conversation here."""

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> None:
        """No facts: every reply is the scripted one."""

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStream:
        return ReplyStream(self._write)

    async def _write(self, on_delta: Callable[[str], None]) -> GroundedReply:
        for piece in self._pieces:
            on_delta(piece)
            await asyncio.sleep(self._delay)
        return GroundedReply(self.answer)


async def generation_is_idle(engine: MoodEngine, timeout: float = 5.0) -> bool:
    """Whether the engine starts a new reply within `timeout`: a batch being generated holds
    back every reply queued behind it, so this fails while an abandoned reply runs on."""
    stream = engine.reply([], "are you free?", Mood("neutral", 1.0))
    try:
        await asyncio.wait_for(anext(aiter(stream)), timeout)
    except TimeoutError:
        return False
    finally:
        stream.cancel()
    return True


# --- the database --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A stored message with the columns the store's records leave out."""

    id: int
    chat_id: int
    customer_id: int
    role: str
    text: str
    telegram_message_id: int | None
    reply_to_id: int | None
    status: str
    failure_reason: str | None
    mood_label: str | None


async def rows(database: Database, chat_id: int | None = None) -> list[Row]:
    """Every stored message (of one chat), oldest first."""
    query = select(Message).order_by(Message.id)
    if chat_id is not None:
        query = query.where(Message.chat_id == chat_id)
    async with database.session() as session:
        return [
            Row(
                m.id,
                m.chat_id,
                m.customer_id,
                m.role,
                m.text,
                m.telegram_message_id,
                m.reply_to_id,
                m.status,
                m.failure_reason,
                m.mood_label,
            )
            for m in await session.scalars(query)
        ]


async def rows_at(database_url: str, chat_id: int) -> list[Row]:
    """The chat's stored messages while no bot is running."""
    database = Database(database_url)
    await database.connect()
    try:
        return await rows(database, chat_id)
    finally:
        await database.close()


async def customer_count(database: Database, customer_id: int) -> int:
    async with database.session() as session:
        query = select(func.count()).select_from(Customer).where(Customer.id == customer_id)
        return await session.scalar(query) or 0


async def wait_for_async(
    check: Callable[[], Awaitable[T]], timeout: float = ANSWER_TIMEOUT, *, what: str
) -> T:
    """Poll an async `check` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
    return result


async def wait_for_status(
    database: Database,
    chat_id: int,
    count: int,
    status: str = "answered",
    timeout: float = ANSWER_TIMEOUT,
) -> list[Row]:
    """Wait until `count` customer messages of the chat have `status`; return the chat's rows."""

    async def settled() -> list[Row]:
        found = await rows(database, chat_id)
        done = [row for row in found if row.role == "user" and row.status == status]
        return found if len(done) >= count else []

    return await wait_for_async(
        settled, timeout, what=f"{count} {status} messages in chat {chat_id}"
    )


def answers_by_question(chat_rows: Sequence[Row]) -> list[tuple[Row, Row]]:
    """(customer message, its answer) pairs in the order the customer wrote; fails unless
    every customer message has exactly one answer."""
    questions = [row for row in chat_rows if row.role == "user"]
    answers = [row for row in chat_rows if row.role == "assistant"]
    pairs = []
    for question in questions:
        mine = [answer for answer in answers if answer.reply_to_id == question.id]
        assert len(mine) == 1, f"message {question.id} has {len(mine)} answers: {mine}"
        pairs.append((question, mine[0]))
    assert len(answers) == len(questions), "an answer to no customer message was stored"
    return pairs


def emoji_of(label: str | None) -> str:
    assert label is not None, "the message has no mood"
    return MOOD_EMOJI[label]
