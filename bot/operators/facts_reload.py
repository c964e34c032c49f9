"""/reloadfacts: operators re-read the facts file without a restart (as SIGHUP does)."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.delivery import deliver
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from engine.knowledge.facts import FactsError
from engine.protocol import Engine

log = logging.getLogger(__name__)


def reload_facts(engine: Engine) -> str:
    """Re-read the facts file; the result in one line, for the journal and the operator."""
    try:
        knowledge = engine.reload_knowledge()
    except FactsError as exc:
        log.error("facts not reloaded, the previous ones stay in use: %s", exc)
        return f"Facts not reloaded; the previous ones stay in use. {exc}"
    if knowledge is None:
        return "No facts file is configured ([knowledge] file)."
    return f"Facts reloaded from {knowledge.facts.path}: {knowledge.summary()}."


class FactsReload:
    def __init__(self, gate: OperatorGate, engine: Engine) -> None:
        self._gate = gate
        self._engine = engine

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CommandHandler(
                "reloadfacts", then_stop(self.on_reload), filters=filters.UpdateType.MESSAGE
            ),
            group=OPERATOR_HANDLER_GROUP,
        )

    async def on_reload(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := await self._gate.command(update)) is None:
            return
        # Reading and indexing a large file (jieba) takes a moment: not on the event loop.
        outcome = await asyncio.to_thread(reload_facts, self._engine)
        await deliver(lambda: message.reply_text(outcome), f"chat {message.chat_id}: facts reload")
