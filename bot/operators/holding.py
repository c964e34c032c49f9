"""While a drafted reply waits for an operator's decision, the customer sees "typing" and, after
`[desk] holding_delay` seconds, a short holding note. Between two typing actions the wait is
checked: it ends when the draft is decided (in whichever process), the conversation is taken
over, the customer is forgotten, or after HOLD_AT_MOST seconds, when "typing" would only
mislead."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.config import DeskConfig
from bot.delivery import DeliveryFailed, deliver
from bot.telegram_sink import TYPING_EVERY
from bot.texts import text
from engine.language import detect_language
from storage import StorageError, StoredMessage
from storage.approvals import Approvals
from storage.desk import Conversation, DeskStore

log = logging.getLogger(__name__)

HOLD_AT_MOST = 600.0


class Holding:
    def __init__(self, bot: Bot, approvals: Approvals, desk: DeskStore, config: DeskConfig) -> None:
        self._bot = bot
        self._approvals = approvals
        self._desk = desk
        self._config = config
        # Message id → its typing and holding note.
        self._holding: dict[int, asyncio.Task[None]] = {}

    def start(self, message: StoredMessage) -> None:
        if message.id in self._holding:
            return
        task = asyncio.create_task(self._hold(message))
        self._holding[message.id] = task
        task.add_done_callback(lambda _: self._holding.pop(message.id, None))

    def stop(self, message_id: int) -> None:
        task = self._holding.pop(message_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._holding.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _hold(self, message: StoredMessage) -> None:
        waited = 0.0
        note_due = self._config.holding_delay or None
        while True:
            with contextlib.suppress(TelegramError):
                await self._bot.send_chat_action(message.chat_id, ChatAction.TYPING)
            step = TYPING_EVERY if note_due is None else min(TYPING_EVERY, note_due - waited)
            await asyncio.sleep(step)
            waited += step
            if note_due is not None and waited >= note_due:
                note_due = None
                await self._note(message)
            reason = await self._over(message, waited)
            if reason is not None:
                log.info(
                    "chat %s: no longer holding message %s for approval: %s",
                    message.chat_id,
                    message.id,
                    reason,
                )
                return

    async def _note(self, message: StoredMessage) -> None:
        holding = text("holding", detect_language(message.text))
        try:
            await deliver(
                lambda: self._bot.send_message(message.chat_id, holding),
                f"chat {message.chat_id}: holding note",
            )
        except (DeliveryFailed, TelegramError) as exc:
            log.info("chat %s: no holding note (%s)", message.chat_id, exc)

    async def _over(self, message: StoredMessage, waited: float) -> str | None:
        """Why the wait is over, if it is."""
        if waited >= HOLD_AT_MOST:
            return f"held for {HOLD_AT_MOST / 60:.0f} minutes, the most it is held"
        try:
            approval = await self._approvals.for_message(message.id)
            if approval is None:
                # The draft went with its message.
                return "the customer was forgotten"
            if approval.decision is not None:
                return "decided"
            conversation = Conversation(message.chat_id, message.customer_id)
            if await self._desk.takeover(conversation) is not None:
                return "taken over by an operator"
        except StorageError as exc:
            log.info("chat %s: cannot check the approval wait (%s)", message.chat_id, exc)
        return None
