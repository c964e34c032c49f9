"""Per-chat order, cross-chat concurrency for python-telegram-bot updates."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

# Commands that must act on the answer in progress instead of queueing behind it.
QUEUE_JUMPING_COMMANDS = ("/cancel",)


class ChatLocks:
    """One FIFO lock per chat, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def acquire(self, chat_id: int) -> None:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._users[chat_id] = self._users.get(chat_id, 0) + 1
        try:
            await lock.acquire()
        except BaseException:
            self._forget_user(chat_id)
            raise

    def release(self, chat_id: int) -> None:
        self._locks[chat_id].release()
        self._forget_user(chat_id)

    def _forget_user(self, chat_id: int) -> None:
        self._users[chat_id] -= 1
        if not self._users[chat_id]:
            del self._users[chat_id]
            del self._locks[chat_id]

    @asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        await self.acquire(chat_id)
        try:
            yield
        finally:
            self.release(chat_id)

    def __len__(self) -> int:
        return len(self._locks)


Arrival = Literal["message", "barrier", "inert"]


@dataclass(frozen=True)
class Intake:
    """Stores customers' messages as they arrive, ahead of their turn in the chat."""

    # What the update is, decided without waiting: a customer's message (stored on arrival),
    # a barrier (it changes what is stored, so the chat's later messages must wait for their
    # turn to be stored), or inert (nothing handles it).
    arrival: Callable[[Update], Arrival]
    # Store the message now if it is one the bot will answer. False when it is one but the
    # database failed: it is then stored in its turn (or the customer told).
    store_on_arrival: Callable[[Update], Awaitable[bool]]
    # A message stored on arrival will not get a turn of its own (its chat is over the cap):
    # drop what was kept for that turn.
    set_aside: Callable[[Update], None]
    # Answer, in order, the chat's stored messages not yet answered (those set aside).
    answer_set_aside: Callable[[int], Awaitable[None]]


def _jumps_queue(update: Update) -> bool:
    message = update.effective_message
    # Whitespace alone is a text too, with no first word.
    words = message.text.split(maxsplit=1) if message is not None and message.text else []
    return bool(words) and words[0].split("@", 1)[0].lower() in QUEUE_JUMPING_COMMANDS


def _close(coroutine: Awaitable[Any]) -> None:
    # An update's handler that will not run: closed so Python does not warn it was never awaited.
    if isinstance(coroutine, Coroutine):
        coroutine.close()


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Each chat's updates are handled one at a time in arrival order; different chats run
    concurrently. Tasks start in arrival order and take their chat's lock before their first
    suspension, and asyncio locks are FIFO, so arrival order is kept.

    With an `intake`, a customer's message is stored the moment it arrives instead of when its
    turn comes: Telegram counts an update as delivered once the bot polls again, so a message
    waiting behind a long answer would be lost if the bot died meanwhile. Only messages with
    nothing but other messages ahead of them are stored early; behind a barrier (/reset, a
    /forget button) a message is stored in its turn, as the barrier may change what it means.
    A message that could not be stored early is a barrier too, so that none overtakes it.

    One chat holds at most `max_held_per_chat` updates waiting or running. A message stored on
    arrival beyond that is set aside: one more turn in the chat's queue answers every message
    set aside, from storage and in order, and later messages are set aside behind it until it
    is done, so none overtakes them. (Messages behind a barrier are stored only in their turn,
    so they are held whatever the cap.)
    """

    def __init__(
        self, locks: ChatLocks, max_concurrent_updates: int = 512, max_held_per_chat: int = 64
    ) -> None:
        # python-telegram-bot's own limit would count updates still waiting for their chat's
        # turn, so one chat flooding hundreds of messages would take every slot (and leave
        # later updates of other chats unstored). Its limit is lifted; ours is taken only by
        # updates being handled, one per chat at most, after storing on arrival.
        super().__init__(sys.maxsize)
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self.locks = locks
        self.intake: Intake | None = None
        self._arrivals = ChatLocks()
        self._numbers = itertools.count()
        # Per chat, the arrival numbers of barriers not yet handled.
        self._barriers: dict[int, set[int]] = {}
        self._limits: set[asyncio.Timeout] = set()
        self._grace: float | None = None
        self._max_held = max_held_per_chat
        # Per chat, the updates past their arrival, waiting for their turn or being handled.
        self._held: dict[int, int] = {}
        # Per chat with messages set aside, how many are not yet answered.
        self._set_aside: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None or not isinstance(update, Update) or _jumps_queue(update):
            async with self._slots:
                await self._within_grace(coroutine, chat.id if chat else None)
            return
        # Numbered and classified before the first suspension, so in arrival order.
        number = next(self._numbers)
        arrival = self._arrival(update, chat.id)
        if arrival == "barrier":
            self._barriers.setdefault(chat.id, set()).add(number)
        try:
            # Every update passes here in arrival order, so early stores keep that order and
            # each update queues for its turn behind those that arrived before it.
            async with self._arrivals.hold(chat.id):
                early = arrival == "message" and not any(
                    barrier < number for barrier in self._barriers.get(chat.id, ())
                )
                stored = early and await self._store_early(update, chat.id)
                if early and not stored:
                    self._barriers.setdefault(chat.id, set()).add(number)
                if stored and self._over_cap(chat.id):
                    self._set_aside[chat.id] = self._set_aside.get(chat.id, 0) + 1
                    assert self.intake is not None
                    self.intake.set_aside(update)
                    _close(coroutine)
                    if self._set_aside[chat.id] > 1:
                        # The turn that answers the set-aside messages is queued already.
                        return
                    coroutine = self._answer_set_aside(chat.id)
                self._held[chat.id] = self._held.get(chat.id, 0) + 1
            try:
                async with self.locks.hold(chat.id), self._slots:
                    await self._within_grace(coroutine, chat.id)
            finally:
                self._held[chat.id] -= 1
                if not self._held[chat.id]:
                    del self._held[chat.id]
        finally:
            barriers = self._barriers.get(chat.id)
            if barriers is not None:
                barriers.discard(number)
                if not barriers:
                    del self._barriers[chat.id]

    def _over_cap(self, chat_id: int) -> bool:
        # Once one message is set aside, every later one is too until they are answered:
        # a message given its own turn meanwhile would overtake them.
        return chat_id in self._set_aside or self._held.get(chat_id, 0) >= self._max_held

    async def _answer_set_aside(self, chat_id: int) -> None:
        assert self.intake is not None
        try:
            # Each message is stored before it is counted, so a read after the count finds it;
            # those set aside while answering get another round.
            while waiting := self._set_aside[chat_id]:
                await self.intake.answer_set_aside(chat_id)
                self._set_aside[chat_id] -= waiting
        except Exception:
            log.exception("chat %s: could not answer the messages set aside", chat_id)
        finally:
            # Whatever is left unanswered stays pending in storage for the retry or next start.
            del self._set_aside[chat_id]

    def _arrival(self, update: Update, chat_id: int) -> Arrival:
        if self.intake is None:
            return "barrier"
        try:
            return self.intake.arrival(update)
        except Exception:
            # Like a failed early store: the update still gets its turn, as a barrier.
            log.exception("chat %s: could not tell what an update is on its arrival", chat_id)
            return "barrier"

    async def _store_early(self, update: Update, chat_id: int) -> bool:
        assert self.intake is not None
        try:
            return await self.intake.store_on_arrival(update)
        except Exception:
            # Storing early only narrows a window; it must never cost the update itself.
            log.exception("chat %s: could not store a message on arrival", chat_id)
            return False

    def limit_updates(self, grace: float) -> None:
        """Stopping: each update may take `grace` more seconds from now, or from when it gets
        its chat, and is then cancelled. A call to Telegram that keeps failing (flood control,
        an outage) must not hold up the stop; updates still queued keep their turn, as each
        must store its message before the bot exits."""
        self._grace = grace
        deadline = asyncio.get_running_loop().time() + grace
        for limit in self._limits:
            limit.reschedule(deadline)

    async def _within_grace(self, coroutine: Awaitable[Any], chat_id: int | None) -> None:
        deadline = None if self._grace is None else asyncio.get_running_loop().time() + self._grace
        try:
            async with asyncio.timeout_at(deadline) as limit:
                self._limits.add(limit)
                try:
                    await coroutine
                finally:
                    self._limits.discard(limit)
        except TimeoutError:
            if not limit.expired():
                raise
            log.warning(
                "chat %s: cancelled what was still in progress %.0f s into the stop (an answer "
                "stays pending)",
                chat_id,
                self._grace,
            )

    async def initialize(self) -> None:
        """Nothing to set up: locks are created on demand."""

    async def shutdown(self) -> None:
        """Nothing to release: locks vanish with their last user."""
