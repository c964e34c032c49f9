"""Everything operators get from the running bot, wired up in one place: their commands, the
customers' topics with the mirror, takeovers, approvals, mood alerts with correction buttons,
what each message wants with buttons to correct it (triage), hand-off notices, wrong-answer
flags, desk facts, the facts reload and the daily digest. It is the pipeline's DeskHooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram.ext import Application

from bot.config import Config
from bot.operators.access import OperatorGate, operator_chats
from bot.operators.alerts import MoodAlerts
from bot.operators.approval import ApprovalDesk
from bot.operators.commands import OperatorCommands
from bot.operators.complaint_keywords import ComplaintKeywords
from bot.operators.corrections import IntentCorrections, MoodCorrections
from bot.operators.desk_channel import DeskChannel
from bot.operators.desk_facts import DeskFactsSync, DeskTeaching
from bot.operators.desk_locks import DeskLocks
from bot.operators.digest import DailyDigest
from bot.operators.facts_reload import FactsReload
from bot.operators.gaps import ContentGaps
from bot.operators.handoff_alerts import HandOffAlerts
from bot.operators.mirror import Mirror
from bot.operators.queue import WaitingQueue
from bot.operators.satisfaction import Satisfaction
from bot.operators.takeover import Takeovers
from bot.operators.triage import intent_buttons
from bot.operators.wrong_answers import WrongAnswers
from bot.pipeline import Answer
from bot.timed_jobs import TimedJobs
from engine.protocol import Engine
from engine.types import Mood
from storage import Clock, Database, Store, StoredMessage
from storage.approvals import Approvals
from storage.desk import Conversation, DeskStore
from storage.desk_facts import DeskFacts
from storage.mood_log import MoodLog
from storage.ratings import Ratings
from storage.update_claims import UpdateClaims


class OperatorDesk:
    def __init__(
        self,
        config: Config,
        database: Database,
        store: Store,
        app: Application,  # type: ignore[type-arg]
        engine: Engine,
        clock: Clock,
        locks: DeskLocks,
        jobs: TimedJobs,
    ) -> None:
        gate = OperatorGate(config.telegram.operator_ids, config.operators.chat_id)
        chats = operator_chats(config)
        # None with triage off: nothing about intents is shown, and there are no intent buttons.
        intents = intent_buttons(config.engine.triage)
        desk = DeskStore(database)
        facts = DeskFacts(database)
        self._desk = desk
        self._store = store
        self._locks = locks
        self.channel = DeskChannel(
            app.bot,
            desk,
            config.operators.chat_id,
            chats,
            config.desk,
            clock,
            locks,
            intents=intents is not None,
        )
        self.mirror = Mirror(self.channel, intents)
        self.keywords = ComplaintKeywords(engine, desk, self.channel)
        self.satisfaction = Satisfaction(
            app.bot,
            Ratings(database),
            config.desk,
            clock,
            enabled=bool(config.telegram.operator_ids),
        )
        self.takeovers = Takeovers(
            app.bot,
            gate,
            desk,
            self.channel,
            chats,
            config.desk,
            clock,
            self._closed,
            locks,
            UpdateClaims(database),
        )
        self.approvals = ApprovalDesk(
            app.bot, gate, store, desk, Approvals(database), self.channel, chats, config.desk, clock
        )
        self.alerts = MoodAlerts(
            self.channel, MoodLog(database), config.operators, self.keywords.wait_for, intents
        )
        self.handoffs = HandOffAlerts(self.channel, MoodLog(database), config.operators.zone)
        self.digest = DailyDigest(database, config.operators, chats, clock)
        OperatorCommands(
            gate,
            database,
            config.operators,
            clock,
            intents=intents.names if intents is not None else (),
        ).register(app)
        MoodCorrections(gate, store, config.operators.zone, clock).register(app)
        if intents is not None:
            IntentCorrections(
                gate, store, intents, config.operators.zone, clock, self._retitle
            ).register(app)
        FactsReload(gate, engine).register(app)
        WrongAnswers(gate, database, config.operators.zone, clock).register(app)
        ContentGaps(gate, database, config.operators.zone, clock).register(app)
        self.teaching = DeskTeaching(
            gate, facts, DeskFactsSync(engine, facts), config.operators.zone, clock
        )
        self.teaching.register(app, jobs)
        self.takeovers.operator_sent = self.teaching.operator_answered
        self.queue = WaitingQueue(
            gate, database, self.channel.forum_chat, clock, by_intent=intents is not None
        )
        self.queue.register(app)
        self.takeovers.register(app, jobs)
        self.approvals.register(app)
        self.satisfaction.register(app, jobs)
        self.digest.schedule(jobs)

    async def start(self) -> None:
        """Before the first update: the engine answers from the desk facts stored so far."""
        await self.teaching.sync.refresh()

    def _retitle(self, customer_id: int) -> None:
        """An operator corrected what the customer's message wants: their title may show it."""
        self.channel.submit(
            customer_id, lambda: self.channel.retitle(customer_id), "retitle a topic"
        )

    async def _closed(self, conversation: Conversation) -> None:
        await self.satisfaction.conversation_ended(conversation, "close")

    async def customer_reset(
        self, chat_id: int, customer_id: int, language_code: str | None
    ) -> None:
        """The customer started afresh with /reset: the conversation before it has ended."""
        await self.satisfaction.conversation_ended(
            Conversation(chat_id, customer_id), "reset", language_code
        )

    async def forget_customer(self, customer_id: int) -> int:
        """The customer asked to be forgotten: everything stored about them goes, and so does
        what the desk posted about them in Telegram. How many of their messages went."""
        traces = await self._desk.traces(customer_id)
        deleted = await self._store.forget_customer(customer_id)
        await self.channel.erase(customer_id, traces)
        return deleted

    def on_mood(self, message: StoredMessage, mood: Mood) -> None:
        self.mirror.customer_message(message, mood)
        # Before the alert, which waits for the keywords.
        self.keywords.on_mood(message, mood)
        self.alerts.on_mood(message, mood)

    async def leaves_to_operators(self, message: StoredMessage) -> bool:
        return await self.approvals.has_draft(message) or await self.takeovers.taken_over(message)

    @asynccontextmanager
    async def answer_turn(self, message: StoredMessage) -> AsyncIterator[bool]:
        async with self._locks.hold(message.customer_id):
            yield not await self.takeovers.taken_over(message)

    async def decided_reply(self, message: StoredMessage) -> str | None:
        return await self.approvals.decided_reply(message)

    def wants_approval(self, mood: Mood) -> bool:
        return self.approvals.wants(mood)

    async def draft(self, message: StoredMessage, answer: str) -> None:
        await self.approvals.draft(message, answer)

    def on_answer(self, message: StoredMessage, answer: Answer) -> None:
        self.mirror.bot_answer(message, answer)

    def on_handoff(self, message: StoredMessage) -> None:
        self.handoffs.on_handoff(message)

    async def close(self) -> None:
        await self.alerts.close()
        await self.handoffs.close()
        await self.approvals.close()
        await self.keywords.close()
        await self.channel.close()
