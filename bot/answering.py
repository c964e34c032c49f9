"""The path of one customer text through the bot, in the order it happens:

1. it arrives: stored at once, before it waits for its chat's turn (`store_on_arrival`);
2. its turn comes: screened again, and picked up from storage (`on_text`);
3. it is answered: mood, a reply streamed into the chat, the answer stored (`answer`);
4. what becomes of it when that fails: pending for a later try, or failed with the reason.

Which updates get here at all is decided in bot.screening; the steps that do not depend on
Telegram are bot.pipeline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram import Bot, Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.config import TelegramConfig
from bot.delivery import DeliveryFailed
from bot.pipeline import MoodPipeline
from bot.screening import Screening, customer_of, say
from bot.telegram_sink import ChatTarget, TelegramSink
from bot.texts import text
from engine.language import detect_language
from engine.protocol import ReplyStreamLike
from engine.types import ReplyCancelled
from storage import StorageError, StoredMessage
from storage.chat_lock import ChatLockAcrossProcesses

log = logging.getLogger(__name__)


@dataclass
class ActiveAnswer:
    """The answer being written for one customer in one chat, so /cancel can reach it."""

    stream: ReplyStreamLike | None = None
    cancelled_by_customer: bool = False
    # An operator took the conversation over while it was written.
    cancelled_for_operator: bool = False
    started: float = field(default_factory=time.monotonic)

    def cancel(self) -> None:
        if self.stream is not None:
            self.stream.cancel()


class Answering:
    def __init__(
        self,
        pipeline: MoodPipeline,
        screening: Screening,
        config: TelegramConfig,
        log_message_text: bool,
        chat_lock: ChatLockAcrossProcesses,
    ) -> None:
        self.pipeline = pipeline
        self._chat_lock = chat_lock
        self._screening = screening
        self._config = config
        self._log_text = log_message_text
        # (chat id, Telegram message id) → what storing it on arrival gave, until its turn.
        self._stored_on_arrival: dict[tuple[int, int], tuple[StoredMessage, bool]] = {}
        # (chat id, customer id) → the answer being written there.
        self._active: dict[tuple[int, int], ActiveAnswer] = {}
        self.shutting_down = False
        # Told of each message whose answer failed in a way that may pass and stays pending.
        self.on_stranded: Callable[[StoredMessage, str], None] | None = None

    # --- 1. on arrival -----------------------------------------------------------------------

    async def store_on_arrival(self, update: Update) -> bool:
        """Store a customer's text before it waits for its turn (see chat_order.Intake);
        on_text picks up the result. False when the database failed."""
        found = self._screening.customer_text(update, update.get_bot())
        if found is None:
            return True
        message, user, question = found
        try:
            received = await self.pipeline.receive(
                message.chat_id, customer_of(user), question, message.message_id
            )
        except StorageError as exc:
            # on_text tries again in the message's turn, and tells the customer if that fails.
            log.warning("chat %s: could not store a message on arrival (%s)", message.chat_id, exc)
            return False
        # A copy Telegram delivered twice must not replace the original's "new".
        self._stored_on_arrival.setdefault((message.chat_id, message.message_id), received)
        return True

    def set_aside(self, update: Update) -> None:
        """The message stored on arrival gets no turn of its own (its chat is over the cap);
        it is answered from storage instead."""
        message = update.effective_message
        if message is not None:
            self._stored_on_arrival.pop((message.chat_id, message.message_id), None)

    # --- 2. in its turn ----------------------------------------------------------------------

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        screened = await self._screening.screen(update, context.bot)
        if screened is None:
            return
        message, user = screened
        question = self._screening.question(message, context.bot)
        if not question:
            await say(message, "empty", user)
            return
        try:
            stored, is_new = self._stored_on_arrival.pop(
                (message.chat_id, message.message_id), None
            ) or await self.pipeline.receive(
                message.chat_id, customer_of(user), question, message.message_id
            )
        except StorageError:
            # Not stored means nobody would ever answer it: tell the customer instead.
            log.exception(
                "chat %s: could not store message %s", message.chat_id, message.message_id
            )
            await say(message, "failed", user)
            return
        if not is_new:
            log.info(
                "chat %s: message %s was delivered again; not answering twice",
                message.chat_id,
                message.message_id,
            )
            return
        if self._log_text:
            log.debug("chat %s: customer %s wrote %r", message.chat_id, user.id, question)
        await self.answer(context.bot, stored, private=message.chat.type == ChatType.PRIVATE)

    # --- 3. the answer, and 4. when it fails --------------------------------------------------

    async def answer(self, bot: Bot, stored: StoredMessage, *, private: bool) -> None:
        """Answer one stored customer message in its chat; failures never reach the customer
        as errors, and an answer that could not be delivered stays pending for a later try.
        With several processes on one database, the chat's earlier messages still pending are
        answered first, and none is answered twice."""
        if not self._chat_lock.across_processes or self.shutting_down:
            await self._answer_one(bot, stored, private=private)
            return
        try:
            async with self._chat_lock.hold(stored.chat_id):
                # Other processes take turns in this chat too: one may have answered this
                # message meanwhile, or stored earlier ones it has not answered yet: those first.
                for message in await self.pipeline.store.pending_messages(stored.chat_id):
                    if message.id > stored.id:
                        break
                    await self._answer_one(bot, message, private=private)
        except StorageError as exc:
            log.error("chat %s: could not take the chat's turn (%s)", stored.chat_id, exc)
            self._stranded(stored, f"the database failed: {exc}")

    async def _answer_one(self, bot: Bot, stored: StoredMessage, *, private: bool) -> None:
        if self.shutting_down:
            # Stored already: the next start answers it, so no model time is spent on it now.
            log.info("chat %s: message %s stays pending until restart", stored.chat_id, stored.id)
            return
        key = (stored.chat_id, stored.customer_id)
        active = ActiveAnswer()
        self._active[key] = active
        target = ChatTarget(
            stored.chat_id, private, None if private else stored.telegram_message_id
        )
        sink = TelegramSink(
            bot, target, self._config.stream_edit_interval, self.pipeline.store, stored.id
        )

        def stream_started(stream: ReplyStreamLike) -> None:
            active.stream = stream
            if active.cancelled_by_customer or self.shutting_down:
                stream.cancel()

        try:
            answer = await self.pipeline.answer(stored, sink, stream_started)
            if answer is None:
                log.info("chat %s: message %s is left to an operator", stored.chat_id, stored.id)
                return
            log.info(
                "chat %s: answered message %s, mood %s (%.2f), in %.1f s",
                stored.chat_id,
                stored.id,
                answer.mood.label,
                answer.mood.confidence,
                time.monotonic() - active.started,
            )
        except ReplyCancelled:
            if active.cancelled_by_customer:
                await self.pipeline.store.mark_failed(stored.id, "cancelled by the customer")
            elif active.cancelled_for_operator:
                if await self.pipeline.leave_to_operators(stored):
                    log.info(
                        "chat %s: message %s is left to an operator", stored.chat_id, stored.id
                    )
                else:
                    # The operator's message did not go out: the bot answers after all.
                    self._stranded(stored, "an operator's message was not delivered")
            else:
                log.info(
                    "chat %s: answer to message %s abandoned at shutdown; it stays pending",
                    stored.chat_id,
                    stored.id,
                )
        except Forbidden as exc:
            # Blocked by the customer, or removed from the group: no later try will get through.
            log.warning(
                "chat %s: cannot write here (%s); message %s failed", stored.chat_id, exc, stored.id
            )
            await self.pipeline.store.mark_failed(stored.id, f"Telegram refused the chat: {exc}")
        except (DeliveryFailed, TelegramError) as exc:
            log.error(
                "chat %s: could not deliver the answer to message %s (%s); it stays pending",
                stored.chat_id,
                stored.id,
                exc,
            )
            self._stranded(stored, f"Telegram did not take the answer: {exc}")
        except StorageError as exc:
            log.exception(
                "chat %s: storage failed while answering message %s", stored.chat_id, stored.id
            )
            self._stranded(stored, f"the database failed: {exc}")
        except Exception:
            log.exception("chat %s: answering message %s failed", stored.chat_id, stored.id)
            await self._report_failure(bot, stored)
        finally:
            await sink.abandon()
            if self._active.get(key) is active:
                del self._active[key]

    def _stranded(self, stored: StoredMessage, reason: str) -> None:
        if self.on_stranded is not None and not self.shutting_down:
            self.on_stranded(stored, reason)

    async def _report_failure(self, bot: Bot, stored: StoredMessage) -> None:
        try:
            await self.pipeline.store.mark_failed(stored.id, "internal error; see the journal")
            # The language the reply would have been in, not the customer's Telegram setting.
            language = detect_language(stored.text)
            await bot.send_message(stored.chat_id, text("failed", language))
        except Exception:
            log.exception("chat %s: could not report the failure", stored.chat_id)

    # --- stopping answers --------------------------------------------------------------------

    def cancel_for_customer(self, chat_id: int, customer_id: int) -> bool:
        """/cancel: stop the customer's answer in progress in this chat; False if none is."""
        active = self._active.get((chat_id, customer_id))
        if active is None:
            return False
        active.cancelled_by_customer = True
        active.cancel()
        return True

    def stop_for_operator(self, chat_id: int, customer_id: int) -> None:
        """An operator took the conversation over: the answer in progress yields to them."""
        active = self._active.get((chat_id, customer_id))
        if active is not None:
            active.cancelled_for_operator = True
            active.cancel()

    def cancel_all(self) -> None:
        """Stop every answer in progress (shutdown): they stay pending for the next start."""
        self.shutting_down = True
        for active in self._active.values():
            active.cancel()
