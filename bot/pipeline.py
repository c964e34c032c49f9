"""The path of one message, independent of Telegram: persist, tag, persist, reply, persist.

The bot and `moodbot chat` both drive this; they differ only in where the answer goes (the
AnswerSink).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol

from bot.formatting import format_answer
from engine.protocol import Engine, ReplyStreamLike
from engine.types import HandOff, Intent, Mood, Turn
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
    # Set when the facts did not answer the message and it went to a colleague.
    handoff: HandOff | None = None
    # The statements of the facts the reply rests on (none for a hand-off).
    evidence: tuple[str, ...] = ()


def conversation_key(customer_id: int) -> str:
    """The engine caches one conversation per customer: /forget then drops all of it at once."""
    return f"customer:{customer_id}"


def strip_mood_emoji(answer: str) -> str:
    """The reply inside a stored answer: the model should not learn to open with the emoji."""
    for emoji in MOOD_EMOJI.values():
        if answer.startswith(emoji):
            return answer[len(emoji) :].lstrip()
    return answer


class MoodPipeline:
    def __init__(self, engine: Engine, store: Store, desk: DeskHooks | None = None) -> None:
        self.engine = engine
        self.store = store
        self.desk = desk
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
            intent = None
            if message.intent is not None and message.intent_confidence is not None:
                intent = Intent(message.intent, message.intent_confidence)
            return Mood(message.mood_label, message.mood_confidence, intent=intent)
        mood = await self.engine.classify(message.text)
        read = mood.intent
        await self.store.set_mood(
            message.id,
            mood.label,
            mood.confidence,
            None if read is None else (read.name, read.confidence),
        )
        if self.desk is not None:
            self.desk.on_mood(message, mood)
        return mood

    async def start_reply(self, message: StoredMessage, mood: Mood) -> ReplyStreamLike:
        """Step 4: start generating with the customer's history in this chat."""
        history = await self.store.history(
            message.chat_id, message.customer_id, before_message_id=message.id, limit=HISTORY_TURNS
        )
        turns = [Turn(turn.role, strip_mood_emoji(turn.text), turn.mood) for turn in history]
        return self.engine.reply(
            turns, message.text, mood, conversation=conversation_key(message.customer_id)
        )

    def forget_conversation(self, customer_id: int) -> None:
        """The engine drops what it cached of the customer's conversation (/reset, /forget)."""
        self.engine.forget_conversation(conversation_key(customer_id))

    async def answer(
        self, message: StoredMessage, sink: AnswerSink, stream_started: StreamHook | None = None
    ) -> Answer | None:
        """Steps 2–5 for a stored message; None when an operator has the conversation (the
        message is then left to them) or the answer waits for their approval. Raises
        ReplyCancelled if the reply was cancelled (the message then stays pending); delivery
        errors propagate and leave it pending too, and so does a StorageError once the delivered
        answer could not be stored (the next try stores it without delivering it again)."""
        unrecorded = self._unrecorded.get(message.id)
        if unrecorded is not None:
            # Delivered by an earlier try whose storing failed: store it, never send it again.
            answer, delivered_id = unrecorded
            await self._record(message, answer, delivered_id)
            return answer
        mood = await self.mood_of(message)
        decided = None if self.desk is None else await self.desk.decided_reply(message)
        if decided is not None:
            # An operator approved (or wrote) the reply: it goes out like any answer.
            await sink.start(mood)
            return await self._deliver(
                message, sink, Answer(mood, strip_mood_emoji(decided), decided)
            )
        if self.desk is not None and await self.desk.leaves_to_operators(message):
            return None
        # A reply that needs approval is not shown while written: it may never be sent.
        approval = self.desk is not None and self.desk.wants_approval(mood)
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
            if not approval:
                await sink.partial(so_far)
        # The guarded text: what the draft showed is replaced by it, so a number the guard
        # rejected never stays in front of the customer.
        reply = await stream.text()
        text = format_answer(mood.emoji, reply)
        async with self._answer_turn(message) as ours:
            if not ours:
                return None
            flagged = None
            if stream.handoff is not None:
                flagged = await self.store.mark_handed_off(message.id, stream.handoff.reason)
                log.info("message %s handed to a colleague: %s", message.id, stream.handoff.reason)
            if approval:
                assert self.desk is not None
                await self.desk.draft(message, text)
                answer = None
            else:
                evidence = () if stream.handoff else tuple(s.text for s in stream.evidence)
                answer = await self._deliver(
                    message, sink, Answer(mood, reply, text, stream.handoff, evidence)
                )
        if self.desk is not None and flagged is not None:
            self.desk.on_handoff(flagged)
        return answer

    def _answer_turn(self, message: StoredMessage) -> AbstractAsyncContextManager[bool]:
        return nullcontext(True) if self.desk is None else self.desk.answer_turn(message)

    async def leave_to_operators(self, message: StoredMessage) -> bool:
        """Whether the message is left to the operators now (see DeskHooks)."""
        return self.desk is not None and await self.desk.leaves_to_operators(message)

    async def _deliver(self, message: StoredMessage, sink: AnswerSink, answer: Answer) -> Answer:
        delivered_id = await sink.finish(answer.text)
        self._unrecorded[message.id] = (answer, delivered_id)
        await self._record(message, answer, delivered_id)
        if self.desk is not None:
            self.desk.on_answer(message, answer)
        return answer

    async def _record(
        self, message: StoredMessage, answer: Answer, delivered_id: int | None
    ) -> None:
        for delay in (*RECORD_RETRY_DELAYS, None):
            try:
                await self.store.record_answer(
                    message.id, answer.text, delivered_id, answer.evidence
                )
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


class DeskHooks(Protocol):
    """The operators' desk, told of each step. The two notices must return at once, as the
    answer waits for them."""

    def on_mood(self, message: StoredMessage, mood: Mood) -> None:
        """A customer's message was tagged for the first time."""

    async def leaves_to_operators(self, message: StoredMessage) -> bool:
        """Whether the model must not reply: an operator has this conversation (the message
        is then left to them), or a reply to it already waits for approval."""

    def answer_turn(self, message: StoredMessage) -> AbstractAsyncContextManager[bool]:
        """Held while the finished answer is delivered (or drafted for approval): an
        operator's message to the customer waits until it is out, and one that came first
        wins: the turn gives False when the conversation was taken over meanwhile (the
        message is then left to the operators), and nothing is delivered."""

    async def decided_reply(self, message: StoredMessage) -> str | None:
        """The reply an operator approved or wrote for the message, to be delivered as its
        answer; None when there is none."""

    def wants_approval(self, mood: Mood) -> bool:
        """Whether a reply to a message of this mood needs an operator's approval."""

    async def draft(self, message: StoredMessage, answer: str) -> None:
        """Put the finished answer before the operators for approval (stored when this
        returns); the message stays pending until they decide."""

    def on_answer(self, message: StoredMessage, answer: Answer) -> None:
        """The bot's answer to the message was delivered and stored."""

    def on_handoff(self, message: StoredMessage) -> None:
        """The message was flagged for a colleague: the facts did not answer it."""
