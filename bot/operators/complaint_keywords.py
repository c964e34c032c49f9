"""What each negative message is about, found by the model in the background: stored with the
message (so /moodlog, `moodbot moods` and exports show it), posted in the customer's topic and
shown in its title."""

from __future__ import annotations

import asyncio
import logging

from bot.operators.desk_channel import DeskChannel
from engine.keywords import complaint_keywords
from engine.protocol import Engine
from engine.types import Mood
from storage import StoredMessage
from storage.desk import Conversation, DeskStore

log = logging.getLogger(__name__)


class ComplaintKeywords:
    def __init__(self, engine: Engine, desk: DeskStore, channel: DeskChannel) -> None:
        self._engine = engine
        self._desk = desk
        self._channel = channel
        self._tasks: set[asyncio.Task[None]] = set()

    def on_mood(self, message: StoredMessage, mood: Mood) -> None:
        if mood.label != "negative":
            return
        task = asyncio.create_task(self._find(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _find(self, message: StoredMessage) -> None:
        try:
            words = await complaint_keywords(self._engine, message.text)
            if not words:
                return
            await self._desk.set_keywords(message.id, words)
        except Exception:
            # Nobody awaits this task: an error that is not logged here is never seen.
            log.exception("message %s: complaint keywords failed", message.id)
            return
        conversation = Conversation(message.chat_id, message.customer_id)

        async def show() -> None:
            await self._channel.post(conversation, f"🔑 About: {', '.join(words)}", topic_only=True)
            await self._channel.retitle(message.customer_id)

        self._channel.submit(message.customer_id, show, "show complaint keywords")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
