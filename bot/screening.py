"""What the bot responds to, and which handler does.

Every update is first routed by kind (bot.routes): a customer command, a text, or anything else
a person sends. Whatever the kind, the bot responds only to a message addressed to it (always in a
private chat; in a group when mentioned, replied to or given a command) by a person, and only
to someone allowed to use it. The path of a text that passes all this is bot.answering.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Bot, Message, MessageEntity, Update, User
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.config import TelegramConfig
from bot.delivery import deliver
from bot.formatting import clean_incoming
from bot.texts import text, ui_language
from storage import CustomerInfo

log = logging.getLogger(__name__)

Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def customer_of(user: User) -> CustomerInfo:
    return CustomerInfo(
        id=user.id,
        name=user.full_name,
        username=user.username,
        language=ui_language(user.language_code),
    )


async def say(message: Message, key: str, user: User | None, **values: object) -> None:
    """One of the bot's own texts (bot.texts), in the sender's language, as a reply."""
    language = ui_language(user.language_code if user else None)
    await deliver(
        lambda: message.reply_text(text(key, language, **values)),
        f"chat {message.chat_id}: {key}",
    )


class Screening:
    """Whether the bot responds to a message, and what a customer's text asks."""

    def __init__(self, config: TelegramConfig) -> None:
        self._config = config

    async def screen(self, update: Update, bot: Bot) -> tuple[Message, User] | None:
        """The message and its sender when the bot should respond to it, else None; someone
        not allowed to use the bot is told so."""
        sender = self.sender(update, bot)
        if sender is None:
            return None
        message, user = sender
        if not self.allowed(user):
            log.info(
                "chat %s: refused user %s (not in telegram.allowed_user_ids)",
                message.chat_id,
                user.id,
            )
            await say(message, "not_allowed", user)
            return None
        return message, user

    def customer_text(self, update: Update, bot: Bot) -> tuple[Message, User, str] | None:
        """A text the bot will answer: addressed, from someone allowed, and not empty once
        cleaned; with its sender and the cleaned text. Decided without a word to anyone."""
        sender = self.sender(update, bot)
        if sender is None or not self.allowed(sender[1]):
            return None
        message, user = sender
        question = self.question(message, bot)
        return (message, user, question) if question else None

    def sender(self, update: Update, bot: Bot) -> tuple[Message, User] | None:
        """The message and its sender when it is addressed to the bot by a person."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or user.is_bot or message.sender_chat is not None:
            return None
        if not self.addressed(message, bot):
            return None
        return message, user

    def addressed(self, message: Message, bot: Bot) -> bool:
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

    def allowed(self, user: User) -> bool:
        return not self._config.allowed_user_ids or user.id in self._config.allowed_user_ids

    def question(self, message: Message, bot: Bot) -> str:
        """The customer's text as the model gets it: cleaned, without the bot's @mention."""
        return clean_incoming(_without_mention(message.text or "", bot))


def _without_mention(message_text: str, bot: Bot) -> str:
    mention = f"@{bot.username}"
    start = message_text.lower().find(mention.lower())
    if start < 0:
        return message_text
    return message_text[:start] + message_text[start + len(mention) :]
