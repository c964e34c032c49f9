"""What the bot does with each kind of update."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.chat_order import Arrival
from bot.config import TelegramConfig
from bot.delivery import DeliveryFailed, deliver
from bot.formatting import clean_incoming, shorten
from bot.pipeline import MoodPipeline
from bot.telegram_sink import ChatTarget, TelegramSink
from bot.texts import text, ui_language
from engine.language import detect_language
from engine.protocol import ReplyStreamLike
from engine.types import ReplyCancelled
from engine.vocabulary import MOOD_EMOJI
from storage import CustomerInfo, StorageError, StoredMessage

log = logging.getLogger(__name__)

FORGET_PREFIX = "forget"


@dataclass
class ActiveAnswer:
    """The answer being written for one customer in one chat, so /cancel can reach it."""

    stream: ReplyStreamLike | None = None
    cancelled_by_customer: bool = False
    started: float = field(default_factory=time.monotonic)

    def cancel(self) -> None:
        if self.stream is not None:
            self.stream.cancel()


def customer_of(user: User) -> CustomerInfo:
    return CustomerInfo(
        id=user.id,
        name=user.full_name,
        username=user.username,
        language=ui_language(user.language_code),
    )


class MoodBotHandlers:
    def __init__(
        self, pipeline: MoodPipeline, config: TelegramConfig, log_message_text: bool
    ) -> None:
        self.pipeline = pipeline
        self._config = config
        self._log_text = log_message_text
        self._active: dict[tuple[int, int], ActiveAnswer] = {}
        self.shutting_down = False
        self._app: Application | None = None  # type: ignore[type-arg]
        self._text_handler: MessageHandler | None = None  # type: ignore[type-arg]
        # (chat id, Telegram message id) → what storing it on arrival gave, until its turn.
        self._arrived: dict[tuple[int, int], tuple[StoredMessage, bool]] = {}

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        commands = {
            "start": self.on_start,
            "help": self.on_help,
            "reset": self.on_reset,
            "cancel": self.on_cancel,
            "mood": self.on_mood,
            "forget": self.on_forget,
        }
        # Edited messages, channel posts and other non-message updates get no answer: the
        # original message was answered already, and channels have no customer to talk to.
        only_messages = filters.UpdateType.MESSAGE
        for name, callback in commands.items():
            app.add_handler(CommandHandler(name, callback, filters=only_messages))
        # Any other command: the commands above were tried first, as handlers of one group are.
        app.add_handler(MessageHandler(only_messages & filters.COMMAND, self.on_unknown_command))
        app.add_handler(CallbackQueryHandler(self.on_forget_button, pattern=rf"^{FORGET_PREFIX}:"))
        self._app = app
        self._text_handler = MessageHandler(
            only_messages & filters.TEXT & ~filters.COMMAND, self.on_text
        )
        app.add_handler(self._text_handler)
        app.add_handler(
            MessageHandler(
                only_messages & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.on_not_text
            )
        )
        app.add_error_handler(self.on_error)

    # --- who may talk to the bot -------------------------------------------------------------

    def _addressed(self, message: Message, bot: Bot) -> bool:
        """In groups the bot answers only when mentioned, replied to or given a command."""
        if message.chat.type == ChatType.PRIVATE:
            return True
        # A command is how a group addresses a bot: CommandHandler has already dropped
        # "/command@otherbot", so any command that gets here is meant for this bot.
        first = message.entities[0] if message.entities else None
        if first is not None and first.type == MessageEntity.BOT_COMMAND and first.offset == 0:
            return True
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        entities = message.parse_entities(
            [MessageEntity.MENTION]
        ) or message.parse_caption_entities([MessageEntity.MENTION])
        return any(value.lower() == mention for value in entities.values())

    def _allowed(self, user: User) -> bool:
        return not self._config.allowed_user_ids or user.id in self._config.allowed_user_ids

    def _sender(self, update: Update, bot: Bot) -> tuple[Message, User] | None:
        """The message and its sender when it is addressed to the bot by a person."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or user.is_bot or message.sender_chat is not None:
            return None
        if not self._addressed(message, bot):
            return None
        return message, user

    async def _screen(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> tuple[Message, User] | None:
        """The message and its sender when the bot should respond to it, else None."""
        sender = self._sender(update, context.bot)
        if sender is None:
            return None
        message, user = sender
        if not self._allowed(user):
            log.info(
                "chat %s: refused user %s (not in telegram.allowed_user_ids)",
                message.chat_id,
                user.id,
            )
            await self._say(message, "not_allowed", user)
            return None
        return message, user

    async def _say(self, message: Message, key: str, user: User | None, **values: object) -> None:
        language = ui_language(user.language_code if user else None)
        await deliver(
            lambda: message.reply_text(text(key, language, **values)),
            f"chat {message.chat_id}: {key}",
        )

    # --- customer messages -------------------------------------------------------------------

    def _without_mention(self, message_text: str, bot: Bot) -> str:
        mention = f"@{bot.username}"
        start = message_text.lower().find(mention.lower())
        if start < 0:
            return message_text
        return message_text[:start] + message_text[start + len(mention) :]

    def _question(self, message: Message, bot: Bot) -> str:
        return clean_incoming(self._without_mention(message.text or "", bot))

    def arrival(self, update: Update) -> Arrival:
        """For the update processor (see chat_order.Intake): which handlers will take the
        update, found the way the application dispatches it."""
        assert self._app is not None, "register() first"
        taken = []
        for group in sorted(self._app.handlers):
            for handler in self._app.handlers[group]:
                check = handler.check_update(update)
                if check is not None and check is not False:
                    taken.append(handler)
                    break
        if not taken:
            return "inert"
        return "message" if taken == [self._text_handler] else "barrier"

    async def store_on_arrival(self, update: Update) -> bool:
        """Store a customer's message before it waits for its turn (see chat_order.Intake);
        on_text picks up the result."""
        bot = update.get_bot()
        sender = self._sender(update, bot)
        if sender is None or not self._allowed(sender[1]):
            return True
        message, user = sender
        cleaned = self._question(message, bot)
        if not cleaned:
            return True
        try:
            received = await self.pipeline.receive(
                message.chat_id, customer_of(user), cleaned, message.message_id
            )
        except StorageError as exc:
            # on_text tries again in the message's turn, and tells the customer if that fails.
            log.warning("chat %s: could not store a message on arrival (%s)", message.chat_id, exc)
            return False
        # A copy Telegram delivered twice must not replace the original's "new".
        self._arrived.setdefault((message.chat_id, message.message_id), received)
        return True

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        screened = await self._screen(update, context)
        if screened is None:
            return
        message, user = screened
        cleaned = self._question(message, context.bot)
        if not cleaned:
            await self._say(message, "empty", user)
            return
        try:
            stored, is_new = self._arrived.pop(
                (message.chat_id, message.message_id), None
            ) or await self.pipeline.receive(
                message.chat_id, customer_of(user), cleaned, message.message_id
            )
        except StorageError:
            # Not stored means nobody would ever answer it: tell the customer instead.
            log.exception(
                "chat %s: could not store message %s", message.chat_id, message.message_id
            )
            await self._say(message, "failed", user)
            return
        if not is_new:
            log.info(
                "chat %s: message %s was delivered again; not answering twice",
                message.chat_id,
                message.message_id,
            )
            return
        if self._log_text:
            log.debug("chat %s: customer %s wrote %r", message.chat_id, user.id, cleaned)
        await self.answer(context.bot, stored, private=message.chat.type == ChatType.PRIVATE)

    async def answer(self, bot: Bot, stored: StoredMessage, *, private: bool) -> None:
        """Answer one stored customer message in its chat; failures never reach the customer
        as errors, and an answer that could not be delivered stays pending for a later try."""
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
        sink = TelegramSink(bot, target, self._config.stream_edit_interval)

        def stream_started(stream: ReplyStreamLike) -> None:
            active.stream = stream
            if active.cancelled_by_customer or self.shutting_down:
                stream.cancel()

        try:
            answer = await self.pipeline.answer(stored, sink, stream_started)
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
        except StorageError:
            log.exception(
                "chat %s: storage failed while answering message %s", stored.chat_id, stored.id
            )
        except Exception:
            log.exception("chat %s: answering message %s failed", stored.chat_id, stored.id)
            await self._report_failure(bot, stored)
        finally:
            await sink.abandon()
            if self._active.get(key) is active:
                del self._active[key]

    async def _report_failure(self, bot: Bot, stored: StoredMessage) -> None:
        try:
            await self.pipeline.store.mark_failed(stored.id, "internal error; see the journal")
            # The language the reply would have been in, not the customer's Telegram setting.
            language = detect_language(stored.text)
            await bot.send_message(stored.chat_id, text("failed", language))
        except Exception:
            log.exception("chat %s: could not report the failure", stored.chat_id)

    def cancel_all(self) -> None:
        """Stop every answer in progress (shutdown): they stay pending for the next start."""
        self.shutting_down = True
        for active in self._active.values():
            active.cancel()

    async def on_not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        screened = await self._screen(update, context)
        if screened is not None:
            await self._say(screened[0], "not_text", screened[1])

    # --- commands ----------------------------------------------------------------------------

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        command = (message.text or "").split(maxsplit=1)[0] if message is not None else ""
        _, _, target = command.partition("@")
        if target and target.lower() != (context.bot.username or "").lower():
            return  # "/command@otherbot" in a group is another bot's business
        if (screened := await self._screen(update, context)) is not None:
            await self._say(screened[0], "unknown_command", screened[1])

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screen(update, context)) is not None:
            await self._say(screened[0], "start", screened[1], name=screened[1].first_name)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screen(update, context)) is not None:
            await self._say(screened[0], "help", screened[1])

    async def on_reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screen(update, context)) is not None:
            message, user = screened
            await self.pipeline.store.reset_conversation(message.chat_id, user.id)
            await self._say(message, "reset_done", user)

    async def on_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screen(update, context)) is None:
            return
        message, user = screened
        active = self._active.get((message.chat_id, user.id))
        if active is None:
            await self._say(message, "nothing_to_cancel", user)
            return
        active.cancelled_by_customer = True
        active.cancel()
        await self._say(message, "cancelled", user)

    async def on_mood(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screen(update, context)) is None:
            return
        message, user = screened
        moods = await self.pipeline.store.recent_moods(user.id, limit=10)
        if not moods:
            await self._say(message, "mood_empty", user)
            return
        lines = [text("mood_header", ui_language(user.language_code))]
        for stored in moods:
            emoji = MOOD_EMOJI[stored.mood_label or "neutral"]
            when = stored.created_at.strftime("%Y-%m-%d %H:%M UTC")
            lines.append(
                f"{emoji} {stored.mood_confidence or 0:.0%} · {when} · {shorten(stored.text, 60)}"
            )
        reply = "\n".join(lines)
        await deliver(lambda: message.reply_text(reply), f"chat {message.chat_id}: mood")

    async def on_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screen(update, context)) is None:
            return
        message, user = screened
        language = ui_language(user.language_code)
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        text("forget_yes", language), callback_data=f"{FORGET_PREFIX}:yes:{user.id}"
                    ),
                    InlineKeyboardButton(
                        text("forget_no", language), callback_data=f"{FORGET_PREFIX}:no:{user.id}"
                    ),
                ]
            ]
        )
        await deliver(
            lambda: message.reply_text(text("forget_confirm", language), reply_markup=keyboard),
            f"chat {message.chat_id}: forget",
        )

    async def on_forget_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        parts = query.data.split(":")
        language = ui_language(query.from_user.language_code)
        if len(parts) != 3 or str(query.from_user.id) != parts[2]:
            # In a group only the customer who asked may confirm deleting their own data; a
            # mangled or forged payload is turned away the same way.
            await query.answer()
            return
        choice = parts[1]
        await query.answer()
        if choice == "yes":
            count = await self.pipeline.store.forget_customer(query.from_user.id)
            log.info(
                "customer %s asked to be forgotten: %d messages deleted", query.from_user.id, count
            )
            await query.edit_message_text(text("forget_done", language, count=count))
        else:
            await query.edit_message_text(text("forget_kept", language))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling an update", exc_info=context.error)
