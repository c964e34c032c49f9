"""The running bot: database, Telegram application, recovery of unanswered messages."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from itertools import groupby

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.answering import Answering
from bot.chat_order import ChatLocks, Intake, PerChatUpdateProcessor
from bot.commands import CustomerCommands
from bot.config import Config
from bot.delivery import DeliveryFailed, deliver
from bot.operators.access import operator_chats
from bot.operators.desk import OperatorDesk
from bot.operators.desk_locks import DeskLocks
from bot.operators.facts_reload import reload_facts
from bot.pending_retry import RETRY_DELAYS, PendingRetry
from bot.pipeline import MoodPipeline
from bot.routes import Routes
from bot.screening import Screening
from bot.systemd import SystemdNotifier
from bot.texts import COMMAND_MENU
from bot.timed_jobs import TimedJobs
from bot.update_claims import OneProcessPerUpdate
from engine.protocol import Engine
from storage import Clock, Database, Store, StoredMessage, migrations, utc_now
from storage.chat_lock import ChatLockAcrossProcesses
from storage.customer_lock import CustomerLockAcrossProcesses
from storage.leader import TimedJobsLeader
from storage.update_claims import UpdateClaims

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
        # Keeps drafts and edits of many chats under Telegram's limits. No retries of its own
        # (max_retries=0): bot.delivery waits out a RetryAfter on final sends, and a draft
        # that met one is simply superseded by the next.
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=telegram.max_requests_per_second,
                group_max_rate=telegram.max_group_requests_per_minute,
                max_retries=0,
            )
        )
        .build()
    )


class BotService:
    """Start and stop the whole bot around an already loaded engine."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        clock: Clock = utc_now,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self.config = config
        self.engine = engine
        self.database = Database(config.database.url)
        self.store = Store(self.database, clock)
        self.chat_lock = ChatLockAcrossProcesses(config.database.url)
        self.customer_lock = CustomerLockAcrossProcesses(config.database.url)
        self.leader = TimedJobsLeader(config.database.url)
        self.locks = ChatLocks()
        self.processor = PerChatUpdateProcessor(
            self.locks, max_held_per_chat=config.telegram.max_waiting_per_chat
        )
        self.app = build_application(config, self.processor)
        jobs = TimedJobs(self.app.job_queue, self.leader)
        self.operators = OperatorDesk(
            config,
            self.database,
            self.store,
            self.app,
            engine,
            clock,
            DeskLocks(self.customer_lock),
            jobs,
        )
        screening = Screening(config.telegram)
        pipeline = MoodPipeline(engine, self.store, self.operators)
        self.answering = Answering(
            pipeline,
            screening,
            config.telegram,
            config.logging.log_message_text,
            self.chat_lock,
        )
        once = OneProcessPerUpdate(
            UpdateClaims(self.database),
            clock,
            across_processes=self.chat_lock.across_processes,
        )
        once.schedule(jobs)
        routes = Routes(
            self.app,
            self.answering,
            CustomerCommands(screening, pipeline, self.answering, self.operators),
            once,
        )
        self.processor.intake = Intake(
            routes.arrival,
            self.answering.store_on_arrival,
            self.answering.set_aside,
            self._answer_set_aside,
        )
        self.retries = PendingRetry(
            self._answer_stored, self.store, self.locks, self._tell_operators, retry_delays
        )
        self.answering.on_stranded = self.retries.stranded
        self.operators.takeovers.stop_answer = self.answering.stop_for_operator
        self.operators.approvals.answer_now = self.retries.answer_in_turn
        self._recovery: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.database.connect()
        await migrations.prepare(self.database, auto_migrate=self.config.database.auto_migrate)
        await self.operators.start()
        await self.chat_lock.connect()
        await self.customer_lock.connect()
        await self.app.initialize()
        await self._set_commands()
        await self._recover_pending()
        await self.app.start()
        await self._start_receiving()
        log.info("moodbot is running as @%s", self.app.bot.username)

    async def _start_receiving(self) -> None:
        """Updates from Telegram into the application's queue, and from there through the
        same per-chat processor, whichever way they arrive."""
        telegram = self.config.telegram
        assert self.app.updater is not None
        if telegram.mode == "webhook":
            # python-telegram-bot's own server: it refuses a post without the secret token,
            # and setWebhook (with bootstrap retries) tells Telegram where to post.
            await self.app.updater.start_webhook(
                listen=telegram.webhook_listen,
                port=telegram.webhook_port,
                url_path=telegram.webhook_path,
                webhook_url=telegram.webhook_url,
                secret_token=telegram.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
                bootstrap_retries=-1,
            )
            log.info(
                "receiving updates on http://%s:%d/%s (Telegram posts to %s)",
                telegram.webhook_listen,
                telegram.webhook_port,
                telegram.webhook_path,
                telegram.webhook_url,
            )
            return
        await self.app.updater.start_polling(
            timeout=telegram.poll_timeout,
            allowed_updates=Update.ALL_TYPES,
            bootstrap_retries=-1,
            error_callback=_polling_failed,
        )

    async def stop(self) -> None:
        """Stop taking updates, abandon answers in progress (they stay pending), close all;
        a delivery still retrying after STOP_GRACE seconds is abandoned too."""
        log.info("stopping: no new updates; answers in progress are abandoned and stay pending")
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        self.answering.cancel_all()
        self.processor.limit_updates(STOP_GRACE)
        await self.retries.close()
        await self.operators.digest.stop(STOP_GRACE)
        if self._recovery:
            _, late = await asyncio.wait(self._recovery, timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._recovery, return_exceptions=True)
        await self.operators.close()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        await self.leader.close()
        await self.customer_lock.close()
        await self.chat_lock.close()
        await self.database.close()

    def healthy(self) -> bool:
        """Updates arrive (polling or the webhook server runs) and the model can still answer."""
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
                await self._answer_stored(message)
        finally:
            self.locks.release(chat_id)

    async def _answer_set_aside(self, chat_id: int) -> None:
        for message in await self.store.pending_messages(chat_id):
            await self._answer_stored(message)

    async def _answer_stored(self, message: StoredMessage) -> None:
        # Telegram gives private chats the user's (positive) id and groups negative ids.
        await self.answering.answer(self.app.bot, message, private=message.chat_id > 0)

    async def _tell_operators(self, note: str) -> None:
        for chat in operator_chats(self.config):
            try:
                await deliver(
                    lambda chat=chat: self.app.bot.send_message(chat, note),  # type: ignore[misc]
                    f"chat {chat}: note to operators",
                )
            except (DeliveryFailed, TelegramError) as exc:
                log.warning("chat %s: could not tell the operators (%s)", chat, exc)


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
    notifier.ready(f"{config.telegram.mode} as @{service.app.bot.username}")
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
