"""Triage at the desk: what each customer message wants (its intent, see [triage]) shown beside
its mood, and the buttons operators correct it with (see bot.operators.corrections).

With triage off ([triage] enabled = false) the desk shows nothing about intents and has no
intent buttons; a message whose intent was not read shows none and gets no buttons either.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.button_data import ROW_ID, ButtonLayout, OneOf
from engine.config import TriageConfig
from engine.types import Intent

INTENT_MARK = "🏷"
# The data of an intent button: the message and the intent's name. An intent name is at most
# 32 characters and a row id at most 19 digits, so the data stays within Telegram's 64 bytes.
INTENT_PREFIX = "fix-intent"
# Intent buttons per row: names run to 32 characters, and a phone shows about four in a row.
BUTTONS_PER_ROW = 4


def intent_badge(intent: Intent) -> str:
    """The model's intent and its confidence, e.g. "🏷 returns 84%"."""
    return f"{INTENT_MARK} {intent.name} {intent.confidence:.0%}"


class IntentButtons:
    """The buttons that set a message's intent: one per configured intent, in their order."""

    def __init__(self, triage: TriageConfig) -> None:
        self.names: tuple[str, ...] = tuple(triage.intents)
        self.layout = ButtonLayout(INTENT_PREFIX, (ROW_ID, OneOf(self.names)))

    def rows(self, message_id: int) -> list[list[InlineKeyboardButton]]:
        buttons = [
            InlineKeyboardButton(
                f"{INTENT_MARK} {name}", callback_data=self.layout.write(message_id, name)
            )
            for name in self.names
        ]
        return [
            buttons[start : start + BUTTONS_PER_ROW]
            for start in range(0, len(buttons), BUTTONS_PER_ROW)
        ]

    def keyboard(
        self, message_id: int, above: Sequence[Sequence[InlineKeyboardButton]] = ()
    ) -> InlineKeyboardMarkup:
        """The intent rows under the rows `above` (the mood correction buttons, say)."""
        return InlineKeyboardMarkup([*above, *self.rows(message_id)])


def intent_buttons(triage: TriageConfig | None) -> IntentButtons | None:
    """The desk's intent buttons; None with triage off."""
    return IntentButtons(triage) if triage is not None else None
