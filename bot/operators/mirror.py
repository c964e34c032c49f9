"""The customer's topic shows their conversation as it happens: each message with its mood
and confidence (and what it wants, with buttons to correct that, where triage read it), each
answer of the bot with the statements of the facts it rests on and a button to flag it as
wrong, and each message an operator sent them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.button_data import ROW_ID, ButtonLayout
from bot.formatting import TELEGRAM_LIMIT, shorten
from bot.operators.desk_channel import DeskChannel
from bot.operators.triage import IntentButtons, intent_badge
from bot.pipeline import Answer
from engine.types import Mood
from storage import StoredMessage
from storage.desk import Conversation

# Room left in one Telegram message for the line's head.
_TEXT_ROOM = TELEGRAM_LIMIT - 64


def customer_line(mood: Mood, text: str) -> str:
    """E.g. "😢 91% · 🏷 returns 84% · customer:" and the message; the intent where it was read."""
    intent = f" · {intent_badge(mood.intent)}" if mood.intent is not None else ""
    return f"{mood.emoji} {mood.confidence:.0%}{intent} · customer:\n{shorten(text, _TEXT_ROOM)}"


# The customer's message whose answer is wrong.
WRONG_ANSWER_BUTTON = ButtonLayout("wrong-answer", (ROW_ID,))
EVIDENCE_MARK = "📎 "


def answer_line(answer: str, evidence: Sequence[str] = ()) -> str:
    """The answer, then each statement it rests on; the statements get at most half the room."""
    each = _TEXT_ROOM // (2 * max(len(evidence), 1)) - len(EVIDENCE_MARK)
    shown = "".join(f"\n{EVIDENCE_MARK}{shorten(line, each)}" for line in evidence)
    return f"🤖 bot:\n{shorten(answer, _TEXT_ROOM - len(shown))}{shown}"


def wrong_answer_keyboard(message_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "⚠️ Wrong answer", callback_data=WRONG_ANSWER_BUTTON.write(message_id)
                )
            ]
        ]
    )


class Mirror:
    def __init__(self, channel: DeskChannel, intents: IntentButtons | None = None) -> None:
        self._channel = channel
        # None: triage is off, and the topic shows nothing about intents.
        self._intents = intents

    def customer_message(self, message: StoredMessage, mood: Mood) -> None:
        conversation = Conversation(message.chat_id, message.customer_id)
        markup = None
        if self._intents is None:
            mood = replace(mood, intent=None)
        elif mood.intent is not None:
            markup = self._intents.keyboard(message.id)

        async def mirror() -> None:
            await self._channel.post(
                conversation, customer_line(mood, message.text), markup, topic_only=True
            )
            await self._channel.retitle(message.customer_id)

        self._channel.submit(message.customer_id, mirror, "mirror a customer's message")

    def bot_answer(self, message: StoredMessage, answer: Answer) -> None:
        conversation = Conversation(message.chat_id, message.customer_id)
        self._channel.submit(
            message.customer_id,
            lambda: self._channel.post(
                conversation,
                answer_line(answer.text, answer.evidence),
                # A hand-off answers nothing: there is nothing to flag as wrong.
                None if answer.handoff is not None else wrong_answer_keyboard(message.id),
                topic_only=True,
            ),
            "mirror an answer",
        )
