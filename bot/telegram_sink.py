"""Streaming one answer into a Telegram chat while it is generated.

Private chats see a live draft (sendMessageDraft); groups, and any chat where drafts fail, see a
placeholder message that is edited at most once per interval. The final answer is always sent
(or edited in) whole, split at 4096 characters. Typing stays visible until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass

from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError

from bot.delivery import deliver, retry_seconds
from bot.formatting import TELEGRAM_LIMIT, split_message, telegram_length
from engine.types import Mood
from storage import StorageError, Store

log = logging.getLogger(__name__)

TYPING_EVERY = 4.0  # Telegram shows "typing" for about five seconds per action
_draft_ids = itertools.count(1)


@dataclass(frozen=True)
class ChatTarget:
    chat_id: int
    private: bool
    reply_to_message_id: int | None = None


class TelegramSink:
    """Streams one answer to `message_id` and records its delivery in the store as it goes:
    the placeholder when it appears, the final parts before the first is sent, and each part's
    Telegram id once it is delivered. A later try (after a crash or a failed send) therefore
    sends only the parts not yet delivered, and edits a placeholder left behind."""

    def __init__(
        self, bot: Bot, target: ChatTarget, interval: float, store: Store, message_id: int
    ) -> None:
        self._bot = bot
        self._target = target
        self._interval = interval
        self._store = store
        self._message_id = message_id
        self._use_draft = target.private
        self._draft_id = next(_draft_ids)
        self._emoji = ""
        self._shown = ""
        self._last_push = 0.0
        self._quiet_until = 0.0
        # A placeholder that does not hold a delivered part yet (taken back if the answer fails).
        self._placeholder_id: int | None = None
        self._typing: asyncio.Task[None] | None = None

    async def start(self, mood: Mood) -> None:
        self._emoji = mood.emoji
        earlier = await self._store.answer_delivery(self._message_id)
        if earlier is not None and earlier.placeholder_telegram_id is not None:
            # A try that crashed left its placeholder: this one writes into it.
            self._placeholder_id = earlier.placeholder_telegram_id
            self._use_draft = False
        self._typing = asyncio.create_task(self._keep_typing())

    async def partial(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_push < self._interval or now < self._quiet_until:
            return
        preview = f"{self._emoji} {text.strip()} …"
        if not text.strip() or preview == self._shown or telegram_length(preview) > TELEGRAM_LIMIT:
            return
        self._last_push = now
        try:
            if self._use_draft:
                await self._push_draft(preview)
            else:
                await self._push_edit(preview)
            self._shown = preview
        except RetryAfter as exc:
            # Live updates are a courtesy: under flood control skip them, never the final answer.
            self._quiet_until = now + retry_seconds(exc)
        except NetworkError as exc:
            log.info(
                "chat %s: streaming update failed (%s); the final answer will follow",
                self._target.chat_id,
                exc,
            )

    async def _push_draft(self, preview: str) -> None:
        try:
            await self._bot.send_message_draft(self._target.chat_id, self._draft_id, preview)
        except BadRequest as exc:
            log.info(
                "chat %s: drafts unavailable (%s); streaming by edits", self._target.chat_id, exc
            )
            self._use_draft = False
            await self._push_edit(preview)

    async def _push_edit(self, preview: str) -> None:
        if self._placeholder_id is None:
            sent = await self._bot.send_message(
                self._target.chat_id, preview, reply_parameters=self._reply_parameters()
            )
            self._placeholder_id = sent.message_id
            await self._store.record_placeholder(self._message_id, sent.message_id)
            return
        try:
            await self._edit_placeholder(self._placeholder_id, preview)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def _edit_placeholder(self, placeholder_id: int, text: str) -> None:
        await self._bot.edit_message_text(
            text, chat_id=self._target.chat_id, message_id=placeholder_id
        )

    def _reply_parameters(self) -> ReplyParameters | None:
        if self._target.reply_to_message_id is None:
            return None
        return ReplyParameters(self._target.reply_to_message_id, allow_sending_without_reply=True)

    async def finish(self, answer: str) -> int | None:
        """Deliver the final answer, or what of it a former try did not; returns the id of
        its last message. An answer planned before (by an earlier try) is the one delivered."""
        await self._stop_typing()
        planned = await self._store.plan_answer(self._message_id, answer, split_message(answer))
        last_id: int | None = None
        for part in planned.parts:
            if part.telegram_message_id is None:
                if self._placeholder_id is not None and part.position == 0:
                    sent_id = await self._finish_placeholder(self._placeholder_id, part.text)
                else:
                    sent_id = await self._send(part.text)
                await self._store.record_part_delivered(self._message_id, part.position, sent_id)
            else:
                sent_id = part.telegram_message_id
            # The first part is delivered: the placeholder holds it (or is gone) and stays.
            self._placeholder_id = None
            last_id = sent_id
        return last_id

    async def _send(self, text: str) -> int:
        sent = await deliver(
            lambda: self._bot.send_message(
                self._target.chat_id, text, reply_parameters=self._reply_parameters()
            ),
            f"chat {self._target.chat_id}: answer",
        )
        return sent.message_id

    async def _finish_placeholder(self, placeholder_id: int, text: str) -> int:
        try:
            await deliver(
                lambda: self._edit_placeholder(placeholder_id, text),
                f"chat {self._target.chat_id}: final edit",
            )
            return placeholder_id
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return placeholder_id
            # The placeholder is gone (deleted by someone): the answer goes out as a new message.
            return await self._send(text)

    async def abandon(self) -> None:
        """The answer is over, delivered or not: stop the typing status. An answer whose first
        part was not delivered (cancelled, shutting down, failed) also takes its placeholder
        back, so that the chat never keeps half an answer, nor a second one once the message is
        answered after all."""
        await self._stop_typing()
        if self._placeholder_id is None:
            return
        with contextlib.suppress(TelegramError):
            await self._bot.delete_message(self._target.chat_id, self._placeholder_id)
        self._placeholder_id = None
        # Forgetting it is a courtesy: a stale id only costs the next try a failed edit.
        with contextlib.suppress(StorageError):
            await self._store.record_placeholder(self._message_id, None)

    async def _keep_typing(self) -> None:
        while True:
            # Typing is a courtesy: a failure here (flood control included) must never reach
            # finish(), which awaits this task and would otherwise hold back the answer.
            with contextlib.suppress(TelegramError):
                await self._bot.send_chat_action(self._target.chat_id, ChatAction.TYPING)
            await asyncio.sleep(TYPING_EVERY)

    async def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._typing
            self._typing = None
