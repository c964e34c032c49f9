"""The customer's topic shows their conversation as it happens: each message with its mood
and confidence, each answer of the bot, and each message an operator sent them."""

from __future__ import annotations

from bot.formatting import TELEGRAM_LIMIT, shorten
from bot.operators.desk_channel import DeskChannel
from engine.types import Mood
from storage import StoredMessage
from storage.desk import Conversation

# Room left in one Telegram message for the line's head.
_TEXT_ROOM = TELEGRAM_LIMIT - 64


def customer_line(mood: Mood, text: str) -> str:
    return f"{mood.emoji} {mood.confidence:.0%} · customer:\n{shorten(text, _TEXT_ROOM)}"


def answer_line(answer: str) -> str:
    return f"🤖 bot:\n{shorten(answer, _TEXT_ROOM)}"


class Mirror:
    def __init__(self, channel: DeskChannel) -> None:
        self._channel = channel

    def customer_message(self, message: StoredMessage, mood: Mood) -> None:
        conversation = Conversation(message.chat_id, message.customer_id)

        async def mirror() -> None:
            await self._channel.post(
                conversation, customer_line(mood, message.text), topic_only=True
            )
            await self._channel.retitle(message.customer_id)

        self._channel.submit(message.customer_id, mirror, "mirror a customer's message")

    def bot_answer(self, message: StoredMessage, answer: str) -> None:
        conversation = Conversation(message.chat_id, message.customer_id)
        self._channel.submit(
            message.customer_id,
            lambda: self._channel.post(conversation, answer_line(answer), topic_only=True),
            "mirror an answer",
        )
