"""Per-chat order, cross-chat concurrency for python-telegram-bot updates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

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


def _jumps_queue(update: Update) -> bool:
    message = update.effective_message
    if message is None or not message.text:
        return False
    command = message.text.split(maxsplit=1)[0].split("@", 1)[0].lower()
    return command in QUEUE_JUMPING_COMMANDS


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Each chat's updates are handled one at a time in arrival order; different chats run
    concurrently. Tasks start in arrival order and take their chat's lock before their first
    suspension, and asyncio locks are FIFO, so arrival order is kept."""

    def __init__(self, locks: ChatLocks, max_concurrent_updates: int = 512) -> None:
        super().__init__(max_concurrent_updates)
        self.locks = locks

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None or (isinstance(update, Update) and _jumps_queue(update)):
            await coroutine
            return
        async with self.locks.hold(chat.id):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up: locks are created on demand."""

    async def shutdown(self) -> None:
        """Nothing to release: locks vanish with their last user."""
