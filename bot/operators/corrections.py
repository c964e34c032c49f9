"""Operators correct a tagged mood with the buttons under an alert, and what a message wants
(its intent, [triage]) with the intent buttons under the alert and under the message mirrored
into the customer's topic.

The correction is stored beside the model's (both are kept, with who corrected and when); the
post then shows the latest correction of each kind and keeps its buttons, so a slip of the
finger can be corrected again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Message, Update, User
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.button_data import refuse
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.operators.alerts import CORRECTION_BUTTON
from bot.operators.triage import INTENT_MARK, IntentButtons
from engine.vocabulary import MOOD_EMOJI
from storage import Clock, MessageNotFoundError, Store

log = logging.getLogger(__name__)

# Opens each line that records a post's latest correction of one kind; the first follows the
# post after an empty line.
CORRECTION = "✍️ "
CORRECTED_MARK = f"\n\n{CORRECTION}"
MOOD_CORRECTED = f"{CORRECTION}Corrected to "
INTENT_CORRECTED = f"{CORRECTION}Intent set to "


def with_correction(text: str, kind: str, correction: str) -> str:
    """`text` ending in the line `kind` + `correction` (`kind`: MOOD_CORRECTED or
    INTENT_CORRECTED), in place of its earlier line of that kind; the other kind's stays."""
    body, marked, rest = text.partition(CORRECTED_MARK)
    lines = f"{CORRECTION}{rest}".split("\n") if marked else []
    line = f"{kind}{correction}"
    same = [index for index, shown in enumerate(lines) if shown.startswith(kind)]
    if same:
        lines[same[0]] = line
    else:
        lines.append(line)
    return f"{body}\n\n" + "\n".join(lines)


def _by(operator: User, when: datetime, zone: ZoneInfo) -> str:
    return (
        f"by {operator.full_name} ({operator.id}) "
        f"at {when.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
    )


async def _show(post: Message, text: str) -> None:
    """Edit the post to `text`, keeping its buttons for a second thought."""
    try:
        await post.edit_text(text, reply_markup=post.reply_markup)
    except BadRequest as exc:
        # The same operator pressing the same button twice within the minute.
        if "not modified" not in str(exc).lower():
            raise


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
        correction = f"{MOOD_EMOJI[label]} {label} {_by(operator, self._clock(), self._zone)}"
        await _show(alert, with_correction(alert.text, MOOD_CORRECTED, correction))


class IntentCorrections:
    """The intent buttons (bot.operators.triage): registered only with triage on."""

    def __init__(
        self,
        gate: OperatorGate,
        store: Store,
        buttons: IntentButtons,
        zone: ZoneInfo,
        clock: Clock,
        retitle: Callable[[int], None] | None = None,
    ) -> None:
        self._gate = gate
        self._store = store
        self._buttons = buttons
        self._zone = zone
        self._clock = clock
        # Called with the customer's id: their topic's title shows the intent.
        self._retitle = retitle

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CallbackQueryHandler(then_stop(self.on_button), pattern=self._buttons.layout.pattern),
            group=OPERATOR_HANDLER_GROUP,
        )

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Only an operator's press of a button the post carries: forged data is refused.
        press = await self._gate.press(update, self._buttons.layout)
        if press is None:
            return
        query, post, (message_id, intent) = press.query, press.message, press.fields
        operator = query.from_user
        try:
            await self._store.correct_intent(message_id, intent, operator.id)
            corrected = await self._store.get_message(message_id)
        except MessageNotFoundError:
            corrected = None
        if corrected is None:
            await query.answer(
                "This message is no longer stored (its customer had it deleted).", show_alert=True
            )
            return
        log.info("operator %s set the intent of message %s to %s", operator.id, message_id, intent)
        await query.answer(f"Intent set to {intent}")
        if self._retitle is not None:
            self._retitle(corrected.customer_id)
        if post.text is None:
            return
        correction = f"{INTENT_MARK} {intent} {_by(operator, self._clock(), self._zone)}"
        await _show(post, with_correction(post.text, INTENT_CORRECTED, correction))
