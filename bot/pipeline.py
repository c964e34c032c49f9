"""The path of one message, independent of Telegram: persist, tag, persist, reply, persist.

The bot and `moodbot chat` both drive this; they differ only in where the answer goes (the
AnswerSink).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from bot.formatting import format_answer
from engine.protocol import Engine, ReplyStreamLike
from engine.types import Mood, Turn
from engine.vocabulary import MOOD_EMOJI
from storage import CustomerInfo, MessageNotFoundError, StorageError, Store, StoredMessage

log = logging.getLogger(__name__)

HISTORY_TURNS = 40

# Seconds before each further try to store an answer already delivered: a database that
# blinks must not leave a delivered answer pending, to be sent a second time.
RECORD_RETRY_DELAYS: tuple[float, ...] = (0.5, 2.0)


class AnswerSink(Protocol):
    """Where an answer goes while it is written and once it is done."""

    async def start(self, mood: Mood) -> None:
        """The mood is known and the reply is about to be generated."""

    async def partial(self, text: str) -> None:
        """The reply so far (raw model text); may be called many times."""

    async def finish(self, answer: str) -> int | None:
        """Deliver the final answer; returns the id of the delivered message, if any."""


@dataclass(frozen=True)
class Answer:
    mood: Mood
    reply: str
    text: str  # "<emoji> <reply>", as delivered


def strip_mood_emoji(answer: str) -> str:
    """The reply inside a stored answer: the model should not learn to open with the emoji."""
    for emoji in MOOD_EMOJI.values():
        if answer.startswith(emoji):
            return answer[len(emoji) :].lstrip()
    return answer


class MoodPipeline:
    def __init__(self, engine: Engine, store: Store, on_mood: MoodHook | None = None) -> None:
        self.engine = engine
        self.store = store
        self.on_mood = on_mood
        # Message id → the answer delivered to it whose storing failed: a later try of that
        # message stores it instead of generating and sending another.
        self._unrecorded: dict[int, tuple[Answer, int | None]] = {}

    async def receive(
        self, chat_id: int, customer: CustomerInfo, text: str, telegram_message_id: int | None
    ) -> tuple[StoredMessage, bool]:
        """Step 1: the message is committed before any model work; False for a re-delivery."""
        return await self.store.record_incoming(chat_id, customer, text, telegram_message_id)

    async def mood_of(self, message: StoredMessage) -> Mood:
        """Steps 2 and 3: tag the message and log the mood (reused if it was tagged before)."""
        if message.mood_label is not None and message.mood_confidence is not None:
            return Mood(message.mood_label, message.mood_confidence)
        mood = await self.engine.classify(message.text)
        await self.store.set_mood(message.id, mood.label, mood.confidence)
        if self.on_mood is not None:
            self.on_mood(message, mood)
        return mood

    async def start_reply(self, message: StoredMessage, mood: Mood) -> ReplyStreamLike:
        """Step 4: start generating with the customer's history in this chat."""
        history = await self.store.history(
            message.chat_id, message.customer_id, before_message_id=message.id, limit=HISTORY_TURNS
        )
        turns = [Turn(turn.role, strip_mood_emoji(turn.text)) for turn in history]
        return self.engine.reply(turns, message.text, mood)

    async def answer(
        self, message: StoredMessage, sink: AnswerSink, stream_started: StreamHook | None = None
    ) -> Answer:
        """Steps 2–5 for a stored message. Raises ReplyCancelled if the reply was cancelled
        (the message then stays pending); delivery errors propagate and leave it pending too,
        and so does a StorageError once the delivered answer could not be stored (the next try
        stores it without delivering it again)."""
        unrecorded = self._unrecorded.get(message.id)
        if unrecorded is not None:
            answer, delivered_id = unrecorded
            await self._record(message, answer, delivered_id)
            return answer
        mood = await self.mood_of(message)
        await sink.start(mood)
        earlier = await self.store.answer_delivery(message.id)
        if earlier is not None and earlier.text is not None:
            # A try that crashed or failed midway had its final answer: deliver the rest of it.
            return await self._deliver(
                message, sink, Answer(mood, strip_mood_emoji(earlier.text), earlier.text)
            )
        stream = await self.start_reply(message, mood)
        if stream_started is not None:
            stream_started(stream)
        so_far = ""
        async for delta in stream:
            so_far += delta
            await sink.partial(so_far)
        reply = await stream.text()
        return await self._deliver(
            message, sink, Answer(mood, reply, format_answer(mood.emoji, reply))
        )

    async def _deliver(self, message: StoredMessage, sink: AnswerSink, answer: Answer) -> Answer:
        delivered_id = await sink.finish(answer.text)
        self._unrecorded[message.id] = (answer, delivered_id)
        await self._record(message, answer, delivered_id)
        return answer

    async def _record(
        self, message: StoredMessage, answer: Answer, delivered_id: int | None
    ) -> None:
        for delay in (*RECORD_RETRY_DELAYS, None):
            try:
                await self.store.record_answer(message.id, answer.text, delivered_id)
            except MessageNotFoundError:
                # Forgotten meanwhile (/forget): there is nothing left to store it with.
                del self._unrecorded[message.id]
                raise
            except StorageError as exc:
                if delay is None:
                    raise
                log.warning(
                    "chat %s: could not store the delivered answer to message %s (%s); "
                    "trying again in %.1f s",
                    message.chat_id,
                    message.id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                del self._unrecorded[message.id]
                return


class StreamHook(Protocol):
    def __call__(self, stream: ReplyStreamLike) -> None: ...


class MoodHook(Protocol):
    """Told of each newly stored mood (operator alerts); must return at once, as the answer
    waits for it."""

    def __call__(self, message: StoredMessage, mood: Mood) -> None: ...
