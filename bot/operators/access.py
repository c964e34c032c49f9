"""Who may use the operator features, where, where their notices go, and the refusal for
everyone else: a refusal says no more than that, so nobody learns anything about the mood log.
Operators use them in the operators' chat or in their private chat with the bot, never in a
customers' group, where what they show (customers' names, messages, moods) would be read by
everyone there."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.button_data import ButtonLayout, carries, refuse
from bot.config import Config
from bot.delivery import deliver
from bot.screening import Callback
from bot.texts import ui_language

log = logging.getLogger(__name__)

# Operator handlers run in a group of their own, before the customer handlers, and stop the
# update there: a customer handler added later (an "unknown command" reply, say) can then
# neither shadow an operator command nor answer it a second time.
OPERATOR_HANDLER_GROUP = -1

REFUSAL = {
    "en": "Sorry, this command is only for the support team.",
    "zh": "抱歉，此命令仅供客服团队使用。",
}
ELSEWHERE = (
    "Operator commands answer only in the operators' chat or in your private chat with me: "
    "please ask there."
)


def then_stop(callback: Callback) -> Callback:
    """`callback`, after which no handler of a later group sees the update."""

    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await callback(update, context)
        raise ApplicationHandlerStop

    return run


def operator_chats(config: Config) -> list[int]:
    """The chats that receive alerts and the digest."""
    if config.operators.chat_id is not None:
        return [config.operators.chat_id]
    return sorted(config.telegram.operator_ids)


@dataclass(frozen=True)
class Press:
    """An operator's press of one of the bot's own buttons: the query, the message the button is
    under, and the values its data carries."""

    query: CallbackQuery
    message: Message
    fields: tuple[Any, ...]


class OperatorGate:
    def __init__(self, operator_ids: frozenset[int], operators_chat: int | None) -> None:
        self._operator_ids = operator_ids
        self._operators_chat = operators_chat

    def admits(self, user: User | None) -> bool:
        return user is not None and not user.is_bot and user.id in self._operator_ids

    def operators_see(self, chat: Chat) -> bool:
        """Whether only the team reads the chat: the operators' chat, or a private chat (an
        admitted operator's own)."""
        return chat.type == ChatType.PRIVATE or chat.id == self._operators_chat

    async def command(self, update: Update) -> Message | None:
        """The command's message when an operator sent it; otherwise the sender is refused."""
        message, user = update.effective_message, update.effective_user
        if message is None:
            return None
        if self.admits(user) and self.operators_see(message.chat):
            return message
        if self.admits(user):
            log.info("chat %s: an operator command answered elsewhere only", message.chat_id)
            await deliver(
                lambda: message.reply_text(ELSEWHERE), f"chat {message.chat_id}: operators only"
            )
            return None
        log.info(
            "chat %s: refused operator command from user %s (not in telegram.operator_ids)",
            message.chat_id,
            user.id if user else None,
        )
        refusal = REFUSAL[ui_language(user.language_code if user else None)]
        await deliver(lambda: message.reply_text(refusal), f"chat {message.chat_id}: refusal")
        return None

    async def button(self, query: CallbackQuery) -> bool:
        """Whether an operator pressed the button, under a message in an operators' chat; anyone
        else is refused and nothing changes."""
        where = query.message.chat if query.message is not None else None
        if self.admits(query.from_user) and where is not None and self.operators_see(where):
            return True
        log.info("refused operator button from user %s", query.from_user.id)
        await query.answer(REFUSAL[ui_language(query.from_user.language_code)], show_alert=True)
        return False

    async def press(self, update: Update, layout: ButtonLayout) -> Press | None:
        """The press when an operator pressed a button of `layout` that the message carries;
        otherwise None, and the presser has been refused."""
        query = update.callback_query
        if query is None or query.data is None or not await self.button(query):
            return None
        fields = layout.read(query.data)
        message = query.message if isinstance(query.message, Message) else None
        if fields is None or message is None or not carries(message, query.data):
            await refuse(query)
            return None
        return Press(query, message, fields)
