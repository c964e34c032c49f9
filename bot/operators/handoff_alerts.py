"""Hand-off notices: a customer's question the facts did not answer goes to the operators, in the
customer's topic where there is one (where an operator's answer reaches the customer), and
waits in /queue until a person answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from bot.formatting import shorten
from bot.operators.alerts import CONTEXT_MESSAGES, MESSAGE_PREVIEW
from bot.operators.desk_channel import DeskChannel
from bot.operators.log_view import HANDOFF_MARK, customer_text, entry_line
from storage import StoredMessage
from storage.desk import Conversation
from storage.mood_log import MoodFilter, MoodLog, MoodLogEntry

log = logging.getLogger(__name__)


def handoff_text(entry: MoodLogEntry, previous: Sequence[MoodLogEntry], zone: ZoneInfo) -> str:
    """The notice for `entry`, with the customer's `previous` messages (newest first)."""
    customer = customer_text(entry.customer_name, entry.customer_username, entry.customer_id)
    lines = [
        f"{HANDOFF_MARK} Needs a human: {entry.handoff_reason}",
        f"Customer: {customer} · chat {entry.chat_id}",
        f"{entry.created_at.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})",
        "",
        f"Question: {shorten(entry.text, MESSAGE_PREVIEW)}",
        "The customer was told that a colleague will check and answer in their chat.",
    ]
    if previous:
        lines += ["", "Before that (oldest first):"]
        lines += [entry_line(earlier, zone) for earlier in reversed(previous)]
    return "\n".join(lines)


class HandOffAlerts:
    """Posts each hand-off to the operators, beside the answer, never delaying it."""

    def __init__(self, channel: DeskChannel, mood_log: MoodLog, zone: ZoneInfo) -> None:
        self._channel = channel
        self._log = mood_log
        self._zone = zone
        self._sending: set[asyncio.Task[None]] = set()

    def on_handoff(self, message: StoredMessage) -> None:
        task = asyncio.create_task(self._send(message))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def close(self) -> None:
        for task in self._sending:
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)

    async def _send(self, message: StoredMessage) -> None:
        try:
            await self._notify(message)
        except Exception:
            # Nobody awaits this task: an error that is not logged here is never seen.
            log.exception("message %s: the hand-off notice failed", message.id)

    async def _notify(self, message: StoredMessage) -> None:
        recent = await self._log.entries(
            MoodFilter(customer_id=message.customer_id, up_to_message_id=message.id),
            limit=CONTEXT_MESSAGES + 1,
        )
        if not recent or recent[0].message_id != message.id:
            # The customer had everything about them deleted meanwhile (/forget).
            return
        text = handoff_text(recent[0], recent[1:], self._zone)
        conversation = Conversation(message.chat_id, message.customer_id)
        # In the customer's queue, so that the notice follows the mirrored answer it is about.
        self._channel.submit(
            message.customer_id,
            lambda: self._channel.post(conversation, text),
            "post a hand-off notice",
        )
