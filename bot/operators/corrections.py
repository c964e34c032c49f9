"""Operators correct a tagged mood with the buttons under an alert.

The correction is stored beside the model's label (both are kept, with who corrected and
when); the alert then shows the latest correction and keeps its buttons, so a slip of the
finger can be corrected again.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.button_data import refuse
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.operators.alerts import CORRECTION_BUTTON
from engine.vocabulary import MOOD_EMOJI
from storage import Clock, MessageNotFoundError, Store

log = logging.getLogger(__name__)

# Separates the alert from the line that records its latest correction.
CORRECTED_MARK = "\n\n✍️ "


class MoodCorrections:
    def __init__(self, gate: OperatorGate, store: Store, zone: ZoneInfo, clock: Clock) -> None:
        self._gate = gate
        self._clock = clock
        self._store = store
        self._zone = zone

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CallbackQueryHandler(then_stop(self.on_button), pattern=CORRECTION_BUTTON.pattern),
            group=OPERATOR_HANDLER_GROUP,
        )

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None or not await self._gate.button(query):
            return
        fields = CORRECTION_BUTTON.read(query.data)
        if fields is None:
            await refuse(query)
            return
        message_id, label = fields
        operator = query.from_user
        try:
            await self._store.correct_mood(message_id, label, operator.id)
        except MessageNotFoundError:
            await query.answer(
                "This message is no longer stored (its customer had it deleted).", show_alert=True
            )
            return
        log.info("operator %s corrected message %s to %s", operator.id, message_id, label)
        await query.answer(f"Saved: {label}")
        alert = query.message
        if not isinstance(alert, Message) or alert.text is None:
            return
        when = self._clock().astimezone(self._zone)
        corrected = (
            f"{alert.text.split(CORRECTED_MARK, 1)[0]}{CORRECTED_MARK}Corrected to "
            f"{MOOD_EMOJI[label]} {label} by {operator.full_name} ({operator.id}) "
            f"at {when:%Y-%m-%d %H:%M} ({self._zone.key})"
        )
        try:
            await alert.edit_text(corrected, reply_markup=alert.reply_markup)
        except BadRequest as exc:
            # The same operator pressing the same button twice within the minute.
            if "not modified" not in str(exc).lower():
                raise
