"""Operators flag a bot answer as wrong with the button under it in the customer's topic.

The flag (who, when) is stored once per answer and counts in the bot's error rate in
/moodstats, the digest and `moodbot report`; the post then says who flagged it.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.operators.mirror import WRONG_ANSWER_BUTTON
from storage import Clock, Database, MessageNotFoundError
from storage.answer_flags import flag_answer

log = logging.getLogger(__name__)


class WrongAnswers:
    def __init__(
        self, gate: OperatorGate, database: Database, zone: ZoneInfo, clock: Clock
    ) -> None:
        self._gate = gate
        self._database = database
        self._zone = zone
        self._clock = clock

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CallbackQueryHandler(then_stop(self.on_button), pattern=WRONG_ANSWER_BUTTON.pattern),
            group=OPERATOR_HANDLER_GROUP,
        )

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        press = await self._gate.press(update, WRONG_ANSWER_BUTTON)
        if press is None:
            return
        query, post, (message_id,) = press.query, press.message, press.fields
        operator = query.from_user
        now = self._clock()
        try:
            flagged = await flag_answer(self._database, message_id, operator.id, now)
        except MessageNotFoundError:
            await query.answer(
                "This answer is no longer stored (its customer had it deleted).", show_alert=True
            )
            return
        if not flagged:
            await query.answer("It was flagged already.")
            return
        log.info("operator %s flagged the answer to message %s as wrong", operator.id, message_id)
        await query.answer("Flagged as wrong: it counts in the bot's error rate (/moodstats).")
        if post.text is None:
            return
        when = now.astimezone(self._zone)
        try:
            await post.edit_text(
                f"{post.text}\n\n⚠️ Flagged as wrong by {operator.full_name} ({operator.id}) at "
                f"{when:%Y-%m-%d %H:%M} ({self._zone.key})",
                reply_markup=None,
            )
        except TelegramError as exc:
            log.info("could not mark a flagged answer's post: %s", exc)
