"""Who may use the operator features, where their notices go, and the refusal for everyone
else: a refusal says no more than that, so nobody learns anything about the mood log."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Message, Update, User
from telegram.ext import ApplicationHandlerStop, ContextTypes

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


class OperatorGate:
    def __init__(self, operator_ids: frozenset[int]) -> None:
        self._operator_ids = operator_ids

    def admits(self, user: User | None) -> bool:
        return user is not None and not user.is_bot and user.id in self._operator_ids

    async def command(self, update: Update) -> Message | None:
        """The command's message when an operator sent it; otherwise the sender is refused."""
        message, user = update.effective_message, update.effective_user
        if message is None:
            return None
        if self.admits(user):
            return message
        log.info(
            "chat %s: refused operator command from user %s (not in telegram.operator_ids)",
            message.chat_id,
            user.id if user else None,
        )
        refusal = REFUSAL[ui_language(user.language_code if user else None)]
        await deliver(lambda: message.reply_text(refusal), f"chat {message.chat_id}: refusal")
        return None

    async def button(self, query: CallbackQuery) -> bool:
        """Whether an operator pressed the button; anyone else is refused and nothing changes."""
        if self.admits(query.from_user):
            return True
        log.info("refused operator button from user %s", query.from_user.id)
        await query.answer(REFUSAL[ui_language(query.from_user.language_code)], show_alert=True)
        return False
