"""Everything operators get from the running bot, wired up in one place: their commands, mood
alerts with correction buttons, hand-off notices, the facts reload, and the daily digest."""

from __future__ import annotations

from telegram.ext import Application

from bot.config import Config
from bot.operators.access import OperatorGate, operator_chats
from bot.operators.alerts import MoodAlerts
from bot.operators.commands import OperatorCommands
from bot.operators.corrections import MoodCorrections
from bot.operators.digest import DailyDigest
from bot.operators.facts_reload import FactsReload
from bot.operators.handoff_alerts import HandOffAlerts
from engine.protocol import Engine
from engine.types import Mood
from storage import Database, Store, StoredMessage
from storage.mood_log import MoodLog


class OperatorDesk:
    def __init__(
        self,
        config: Config,
        database: Database,
        store: Store,
        app: Application,  # type: ignore[type-arg]
        engine: Engine,
    ) -> None:
        gate = OperatorGate(config.telegram.operator_ids)
        chats = operator_chats(config)
        self.alerts = MoodAlerts(app.bot, MoodLog(database), config.operators, chats)
        self.handoffs = HandOffAlerts(app.bot, MoodLog(database), config.operators.zone, chats)
        self.digest = DailyDigest(database, config.operators, chats)
        OperatorCommands(gate, database, config.operators).register(app)
        MoodCorrections(gate, store, config.operators.zone).register(app)
        FactsReload(gate, engine).register(app)
        self.digest.schedule(app.job_queue)

    def on_mood(self, message: StoredMessage, mood: Mood) -> None:
        """For the pipeline: a customer's message has just been tagged."""
        self.alerts.on_mood(message, mood)

    def on_handoff(self, message: StoredMessage) -> None:
        """For the pipeline: a customer's message has just been handed to a colleague."""
        self.handoffs.on_handoff(message)

    async def close(self) -> None:
        await self.alerts.close()
        await self.handoffs.close()
