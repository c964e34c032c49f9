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
        # Message id → the search for its keywords, while it runs.
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def on_mood(self, message: StoredMessage, mood: Mood) -> None:
        if mood.label != "negative":
            return
        task = asyncio.create_task(self._find(message))
        self._tasks[message.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(message.id, None))

    async def wait_for(self, message_id: int, timeout: float) -> None:
        """Until the message's keywords are stored (or found to be none), at most `timeout`
        seconds; at once when none are being looked for."""
        task = self._tasks.get(message_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)

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
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
