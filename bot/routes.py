"""Which handler takes a customer's update: the handlers registered in the application's
dispatch order, and how an update is classified on arrival (see chat_order.Intake). Before any
handler, an update this process is not to handle (bot.update_claims) is left alone."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.answering import Answering
from bot.button_data import refuse_unknown
from bot.chat_order import Arrival
from bot.commands import CustomerCommands
from bot.update_claims import OneProcessPerUpdate

log = logging.getLogger(__name__)

# Before every other group, the operators' included.
CLAIM_GROUP = -100


class Routes:
    """The handlers of customer updates, registered in the application's dispatch order."""

    def __init__(
        self,
        app: Application,  # type: ignore[type-arg]
        answering: Answering,
        commands: CustomerCommands,
        once: OneProcessPerUpdate,
    ) -> None:
        self._app = app
        self._once = once
        app.add_handler(TypeHandler(Update, self._claim), group=CLAIM_GROUP)
        # Edited messages, channel posts and other non-message updates get no answer: the
        # original message was answered already, and channels have no customer to talk to.
        only_messages = filters.UpdateType.MESSAGE
        for name, callback in commands.by_name().items():
            app.add_handler(CommandHandler(name, callback, filters=only_messages))
        # Any other command: the commands above were tried first, as handlers of one group are.
        app.add_handler(
            MessageHandler(only_messages & filters.COMMAND, commands.on_unknown_command)
        )
        for pattern, callback in commands.buttons().items():
            app.add_handler(CallbackQueryHandler(callback, pattern=pattern))
        # Registered after every button's own handler: a press with data of no layout at all.
        app.add_handler(CallbackQueryHandler(refuse_unknown))
        self._text: BaseHandler = MessageHandler(  # type: ignore[type-arg]
            only_messages & filters.TEXT & ~filters.COMMAND, answering.on_text
        )
        app.add_handler(self._text)
        app.add_handler(
            MessageHandler(
                only_messages & ~filters.TEXT & ~filters.StatusUpdate.ALL, commands.on_not_text
            )
        )
        app.add_error_handler(self.on_error)

    def arrival(self, update: Update) -> Arrival:
        """For the update processor (see chat_order.Intake): which handlers will take the
        update, found the way the application dispatches it."""
        taken = []
        for group in sorted(self._app.handlers):
            if group == CLAIM_GROUP:
                continue
            for handler in self._app.handlers[group]:
                check = handler.check_update(update)
                if check is not None and check is not False:
                    taken.append(handler)
                    break
        if not taken:
            return "inert"
        return "message" if taken == [self._text] else "barrier"

    async def _claim(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self.arrival(update) != "message":
            await self._once.claim(update)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling an update", exc_info=context.error)
