"""Answers left pending by a failure that may pass (Telegram out of reach, a bad answer from
it, the database briefly down) are tried again in this process, after a growing delay, and
not only at the next start. After the last try the message is marked failed with the reason
and the operators are told, so that a person can follow it up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.chat_order import ChatLocks
from storage import StorageError, Store, StoredMessage

log = logging.getLogger(__name__)

# Seconds before each further try; one try per delay, then the message fails.
RETRY_DELAYS: tuple[float, ...] = (30.0, 120.0, 600.0)


class PendingRetry:
    def __init__(
        self,
        answer: Callable[[StoredMessage], Awaitable[None]],
        store: Store,
        locks: ChatLocks,
        tell_operators: Callable[[str], Awaitable[None]],
        delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self._answer = answer
        self._store = store
        self._locks = locks
        self._tell_operators = tell_operators
        self._delays = tuple(delays)
        # Message id → the tries already scheduled for it.
        self._tries: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def stranded(self, message: StoredMessage, reason: str) -> None:
        """An answer to `message` failed and the message stays pending: try again later, or
        give up after the last try."""
        tries = self._tries.get(message.id, 0)
        if tries < len(self._delays):
            self._tries[message.id] = tries + 1
            log.info(
                "chat %s: trying message %s again in %.0f s (try %d of %d)",
                message.chat_id,
                message.id,
                self._delays[tries],
                tries + 2,
                len(self._delays) + 1,
            )
            work = self._try_again(message, self._delays[tries])
        else:
            self._tries.pop(message.id, None)
            work = self._give_up(message, f"{reason} (after {tries + 1} tries)")
        task = asyncio.get_running_loop().create_task(work, name=f"moodbot-retry-{message.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _try_again(self, message: StoredMessage, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.answer_in_turn(message)

    async def answer_in_turn(self, message: StoredMessage) -> None:
        """Answer the message now if it is still pending, in its chat's turn like any update:
        never beside another answer in the same chat."""
        async with self._locks.hold(message.chat_id):
            try:
                current = await self._store.get_message(message.id)
            except StorageError as exc:
                # Still pending in the database: the next start answers it.
                log.warning(
                    "chat %s: cannot read message %s (%s)", message.chat_id, message.id, exc
                )
                return
            if current is None or current.status != "pending":
                self._tries.pop(message.id, None)
                return
            await self._answer(current)

    async def _give_up(self, message: StoredMessage, reason: str) -> None:
        log.error("chat %s: message %s failed: %s", message.chat_id, message.id, reason)
        try:
            await self._store.mark_failed(message.id, reason)
        except StorageError as exc:
            log.warning(
                "chat %s: cannot mark message %s failed (%s)", message.chat_id, message.id, exc
            )
        await self._tell_operators(
            f"⚠️ Message {message.id} in chat {message.chat_id} could not be answered: {reason}. "
            "Please follow it up with the customer."
        )

    async def close(self) -> None:
        """Stopping: tries not yet made are left to the next start (the messages are pending)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
