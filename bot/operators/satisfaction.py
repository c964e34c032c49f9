"""When a conversation ends (an operator presses Close, the customer sends /reset, or it has
been quiet for `[desk] rating_idle_minutes`), the customer is asked once for a 1–5 rating."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.button_data import ROW_ID, ButtonLayout, WholeNumber, refuse
from bot.config import DeskConfig
from bot.delivery import DeliveryFailed, deliver
from bot.operators.access import OPERATOR_HANDLER_GROUP, then_stop
from bot.texts import text, ui_language
from bot.timed_jobs import TimedJobs
from storage import Clock
from storage.desk import Conversation
from storage.ratings import EndedBy, Ratings

log = logging.getLogger(__name__)

# The rating request and the score.
RATING_BUTTON = ButtonLayout("rate", (ROW_ID, WholeNumber(1, 5)))
IDLE_CHECK_SECONDS = 60.0
# Conversations quiet for longer than this before the bot noticed are not asked any more.
ASK_WITHIN = timedelta(days=1)


def rating_keyboard(rating_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"{score}⭐", callback_data=RATING_BUTTON.write(rating_id, score)
                )
                for score in range(1, 6)
            ]
        ]
    )


class Satisfaction:
    """`enabled` is False for a bot without operators: with nobody to read the ratings and no
    person in the conversation, customers are not asked."""

    def __init__(
        self, bot: Bot, ratings: Ratings, config: DeskConfig, clock: Clock, *, enabled: bool
    ) -> None:
        self._enabled = enabled
        self._bot = bot
        self._ratings = ratings
        self._config = config
        self._clock = clock

    def register(self, app: Application, jobs: TimedJobs) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CallbackQueryHandler(then_stop(self.on_button), pattern=RATING_BUTTON.pattern),
            group=OPERATOR_HANDLER_GROUP,
        )
        if self._enabled and self._config.rating_idle_minutes and jobs.available:
            jobs.repeating(self._idle_job, IDLE_CHECK_SECONDS, "rating idle check")

    async def conversation_ended(
        self, conversation: Conversation, ended_by: EndedBy, language_code: str | None = None
    ) -> bool:
        """Ask the customer for a rating unless they were asked about this conversation;
        whether they were asked now."""
        if not self._enabled:
            return False
        rating_id = await self._ratings.ask(
            conversation.chat_id, conversation.customer_id, ended_by, self._clock()
        )
        if rating_id is None:
            return False
        ask = text("rate_ask", ui_language(language_code))
        try:
            await deliver(
                lambda: self._bot.send_message(
                    conversation.chat_id, ask, reply_markup=rating_keyboard(rating_id)
                ),
                f"chat {conversation.chat_id}: rating request",
            )
        except (DeliveryFailed, TelegramError) as exc:
            log.info("chat %s: could not ask for a rating (%s)", conversation.chat_id, exc)
        return True

    async def ask_idle(self) -> int:
        """Ask every conversation quiet for `[desk] rating_idle_minutes`; how many were."""
        quiet_since = self._clock() - timedelta(minutes=self._config.rating_idle_minutes)
        idle = await self._ratings.idle_conversations(quiet_since, quiet_since - ASK_WITHIN)
        asked = 0
        for chat_id, customer_id in idle:
            asked += await self.conversation_ended(Conversation(chat_id, customer_id), "idle")
        return asked

    async def _idle_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self.ask_idle()
        except Exception:
            log.exception("the rating idle check failed")

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        fields = RATING_BUTTON.read(query.data)
        if fields is None:
            await refuse(query)
            return
        rating_id, score = fields
        language = ui_language(query.from_user.language_code)
        if not await self._ratings.rate(rating_id, query.from_user.id, score, self._clock()):
            # Rated already, or not this presser's request to rate.
            await refuse(query)
            return
        thanks = text("rate_thanks", language, stars="⭐" * score)
        await query.answer(thanks)
        if isinstance(query.message, Message):
            try:
                await query.message.edit_text(thanks)
            except TelegramError as exc:
                log.info("could not thank for a rating: %s", exc)
