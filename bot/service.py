"""The running bot: database, Telegram application, recovery of unanswered messages."""

from __future__ import annotations

import asyncio
import logging
import signal
from itertools import groupby

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot.answering import Answering
from bot.chat_order import ChatLocks, Intake, PerChatUpdateProcessor
from bot.commands import CustomerCommands
from bot.config import Config
from bot.operators.desk import OperatorDesk
from bot.operators.facts_reload import reload_facts
from bot.pipeline import MoodPipeline
from bot.screening import Routes, Screening
from bot.systemd import SystemdNotifier
from bot.texts import COMMAND_MENU
from engine.protocol import Engine
from storage import Database, Store, StoredMessage, migrations

log = logging.getLogger(__name__)

# Seconds an answer still being delivered may take once the bot stops, before it is abandoned
# (and stays pending). Well inside the unit's TimeoutStopSec=30, after which systemd kills.
STOP_GRACE = 5.0


def build_application(config: Config, processor: PerChatUpdateProcessor) -> Application:  # type: ignore[type-arg]
    telegram = config.telegram
    return (
        ApplicationBuilder()
        .token(telegram.token)
        .base_url(telegram.base_url)
        .base_file_url(telegram.base_file_url)
        .concurrent_updates(processor)
        .connect_timeout(telegram.connect_timeout)
        .read_timeout(telegram.read_timeout)
        .write_timeout(telegram.read_timeout)
        .get_updates_connect_timeout(telegram.connect_timeout)
        .get_updates_read_timeout(telegram.poll_timeout + telegram.read_timeout)
        # Answers stream into many chats at once; the default pool of 1 would serialise them.
        .connection_pool_size(64)
        .pool_timeout(30.0)
        .build()
    )


class BotService:
    """Start and stop the whole bot around an already loaded engine."""

    def __init__(self, config: Config, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.database = Database(config.database.url)
        self.store = Store(self.database)
        self.locks = ChatLocks()
        self.processor = PerChatUpdateProcessor(self.locks)
        self.app = build_application(config, self.processor)
        self.operators = OperatorDesk(config, self.database, self.store, self.app, engine)
        screening = Screening(config.telegram)
        self.answering = Answering(
            MoodPipeline(engine, self.store, self.operators.on_mood, self.operators.on_handoff),
            screening,
            config.telegram,
            config.logging.log_message_text,
        )
        routes = Routes(
            self.app, self.answering, CustomerCommands(screening, self.store, self.answering)
        )
        self.processor.intake = Intake(routes.arrival, self.answering.store_on_arrival)
        self._recovery: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.database.connect()
        await migrations.prepare(self.database, auto_migrate=self.config.database.auto_migrate)
        await self.app.initialize()
        await self._set_commands()
        await self._recover_pending()
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            timeout=self.config.telegram.poll_timeout,
            allowed_updates=Update.ALL_TYPES,
            bootstrap_retries=-1,
            error_callback=_polling_failed,
        )
        log.info("moodbot is running as @%s", self.app.bot.username)

    async def stop(self) -> None:
        """Stop taking updates, abandon answers in progress (they stay pending), close all;
        a delivery still retrying after STOP_GRACE seconds is abandoned too."""
        log.info("stopping: no new updates; answers in progress are abandoned and stay pending")
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        self.answering.cancel_all()
        self.processor.limit_updates(STOP_GRACE)
        if self._recovery:
            _, late = await asyncio.wait(self._recovery, timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._recovery, return_exceptions=True)
        await self.operators.close()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        await self.database.close()

    def healthy(self) -> bool:
        """Polling runs and the model can still answer."""
        updater = self.app.updater
        return updater is not None and updater.running and self.engine.healthy()

    async def _set_commands(self) -> None:
        for language, commands in COMMAND_MENU.items():
            await self.app.bot.set_my_commands(
                [BotCommand(name, description) for name, description in commands],
                language_code=language or None,
            )

    async def _recover_pending(self) -> None:
        """Answer, in order, the messages stored but not answered before the last stop."""
        pending = await self.store.pending_messages()
        if not pending:
            return
        log.info("answering %d messages left pending by the last run", len(pending))
        ordered = sorted(pending, key=lambda message: (message.chat_id, message.id))
        for chat_id, messages in groupby(ordered, key=lambda message: message.chat_id):
            # The chat's lock is taken before polling starts, so new messages queue behind these.
            await self.locks.acquire(chat_id)
            self._recovery.append(
                asyncio.create_task(self._answer_in_order(chat_id, list(messages)))
            )

    async def _answer_in_order(self, chat_id: int, messages: list[StoredMessage]) -> None:
        try:
            for message in messages:
                # Telegram gives private chats the user's (positive) id and groups negative ids.
                await self.answering.answer(self.app.bot, message, private=message.chat_id > 0)
        finally:
            self.locks.release(chat_id)


def _polling_failed(exc: TelegramError) -> None:
    # One line per failed poll in the journal instead of a traceback each: through an outage
    # polling fails every few seconds, and it retries by itself.
    log.warning("polling Telegram failed (%s); retrying", exc)


async def serve(config: Config, engine: Engine, notifier: SystemdNotifier | None = None) -> None:
    """Run until SIGTERM or SIGINT; systemd hears when the bot is ready and while it is healthy."""
    notifier = notifier or SystemdNotifier()
    service = BotService(config, engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # `systemctl reload`: re-read the facts file (off the loop: indexing takes a moment).
    loop.add_signal_handler(
        signal.SIGHUP, lambda: loop.run_in_executor(None, _reload_and_log, engine)
    )
    try:
        await service.start()
    except BaseException:
        # Close what did start (the database, Telegram's HTTP client) before the error is told.
        await service.stop()
        raise
    notifier.ready(f"polling as @{service.app.bot.username}")
    watchdog = asyncio.create_task(notifier.keep_watchdog_fed(service.healthy))
    try:
        await stop.wait()
    finally:
        notifier.stopping()
        watchdog.cancel()
        await service.stop()


def _reload_and_log(engine: Engine) -> None:
    log.info("SIGHUP: %s", reload_facts(engine))


def run_bot(config: Config, engine: Engine) -> int:
    asyncio.run(serve(config, engine))
    return 0
