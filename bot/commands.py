"""The customers' commands (/start, /help, /reset, /cancel, /mood, /forget and its buttons),
and the bot's notes for what it cannot answer: an unknown command, a message without text."""

from __future__ import annotations

import logging
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.answering import Answering
from bot.button_data import USER_ID, ButtonLayout, OneOf, refuse
from bot.delivery import deliver
from bot.formatting import shorten
from bot.pipeline import MoodPipeline
from bot.screening import Callback, Screening, say
from bot.texts import text, ui_language
from engine.vocabulary import MOOD_EMOJI

log = logging.getLogger(__name__)

# The answer and the customer who asked.
FORGET_BUTTON = ButtonLayout("forget", (OneOf(("yes", "no")), USER_ID))


class DeskForCustomers(Protocol):
    """What the operators' desk does about the customers' commands."""

    async def customer_reset(
        self, chat_id: int, customer_id: int, language_code: str | None
    ) -> None:
        """The conversation before a /reset ended (the desk asks for a rating)."""

    async def forget_customer(self, customer_id: int) -> int:
        """Delete everything about the customer, in the database and in the desk's chats; how
        many of their messages went."""


class CustomerCommands:
    def __init__(
        self,
        screening: Screening,
        pipeline: MoodPipeline,
        answering: Answering,
        desk: DeskForCustomers,
    ) -> None:
        self._screening = screening
        self._pipeline = pipeline
        self._store = pipeline.store
        # Only for /cancel, which reaches the answer in progress.
        self._answering = answering
        self._desk = desk

    def by_name(self) -> dict[str, Callback]:
        return {
            "start": self.on_start,
            "help": self.on_help,
            "reset": self.on_reset,
            "cancel": self.on_cancel,
            "mood": self.on_mood,
            "forget": self.on_forget,
        }

    def buttons(self) -> dict[str, Callback]:
        """The handlers of this module's inline buttons, by the pattern of their data."""
        return {FORGET_BUTTON.pattern: self.on_forget_button}

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screening.screen(update, context.bot)) is not None:
            await say(screened[0], "start", screened[1], name=screened[1].first_name)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screening.screen(update, context.bot)) is not None:
            await say(screened[0], "help", screened[1])

    async def on_reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screening.screen(update, context.bot)) is not None:
            message, user = screened
            await self._store.reset_conversation(message.chat_id, user.id)
            self._pipeline.forget_conversation(user.id)
            await say(message, "reset_done", user)
            await self._desk.customer_reset(message.chat_id, user.id, user.language_code)

    async def on_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screening.screen(update, context.bot)) is None:
            return
        message, user = screened
        if self._answering.cancel_for_customer(message.chat_id, user.id):
            await say(message, "cancelled", user)
        else:
            await say(message, "nothing_to_cancel", user)

    async def on_mood(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screening.screen(update, context.bot)) is None:
            return
        message, user = screened
        moods = await self._store.recent_moods(user.id, limit=10)
        if not moods:
            await say(message, "mood_empty", user)
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
        if (screened := await self._screening.screen(update, context.bot)) is None:
            return
        message, user = screened
        language = ui_language(user.language_code)
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        text("forget_yes", language),
                        callback_data=FORGET_BUTTON.write("yes", user.id),
                    ),
                    InlineKeyboardButton(
                        text("forget_no", language),
                        callback_data=FORGET_BUTTON.write("no", user.id),
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
        fields = FORGET_BUTTON.read(query.data)
        language = ui_language(query.from_user.language_code)
        if fields is None or fields[1] != query.from_user.id:
            # In a group only the customer who asked may confirm deleting their own data; a
            # mangled or forged payload is turned away the same way.
            await refuse(query)
            return
        choice = fields[0]
        await query.answer()
        if choice == "yes":
            count = await self._desk.forget_customer(query.from_user.id)
            self._pipeline.forget_conversation(query.from_user.id)
            log.info(
                "customer %s asked to be forgotten: %d messages deleted", query.from_user.id, count
            )
            await query.edit_message_text(text("forget_done", language, count=count))
        else:
            await query.edit_message_text(text("forget_kept", language))

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        command = (message.text or "").split(maxsplit=1)[0] if message is not None else ""
        _, _, target = command.partition("@")
        if target and target.lower() != (context.bot.username or "").lower():
            return  # "/command@otherbot" in a group is another bot's business
        if (screened := await self._screening.screen(update, context.bot)) is not None:
            await say(screened[0], "unknown_command", screened[1])

    async def on_not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (screened := await self._screening.screen(update, context.bot)) is not None:
            await say(screened[0], "not_text", screened[1])
