"""Where the desk writes about a customer: their own forum topic in the operators' chat when
that chat is a forum the bot may manage topics in, otherwise (alerts only) each operator chat.

Everything written about one customer goes through one queue, so their topic is created once
and the mirror keeps the conversation's order, while the customer's answers never wait for it.
Each job holds the customer's desk lock: with several bot processes, the one that finds no
topic opens it while the others wait, and then find it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, TelegramError

from bot.config import DeskConfig
from bot.delivery import DeliveryFailed, deliver
from bot.operators.desk_locks import DeskLocks
from bot.operators.topic_titles import topic_title
from storage import Clock
from storage.desk import Conversation, CustomerSummary, DeskStore, DeskTraces

log = logging.getLogger(__name__)

# Moods a title's trend is read from.
TITLE_MOODS = 4
# Telegram's words when the chat cannot have the bot's topics: no forum, or no right to them.
_NO_TOPICS = ("not a forum", "not enough rights", "chat_admin_required")
_TOPIC_GONE = ("message thread not found", "topic_id_invalid", "topic_deleted")


def _says(exc: TelegramError, phrases: Sequence[str]) -> bool:
    return any(phrase in str(exc).lower() for phrase in phrases)


class DeskChannel:
    def __init__(
        self,
        bot: Bot,
        desk: DeskStore,
        forum_chat: int | None,
        chats: Sequence[int],
        config: DeskConfig,
        clock: Clock,
        locks: DeskLocks,
        *,
        intents: bool = False,
    ) -> None:
        self._bot = bot
        # Whether titles show what the customer wants (triage on).
        self._intents = intents
        self._locks = locks
        self._desk = desk
        # Only a group can be a forum; a user id as the operators' chat never is.
        self.forum_chat = forum_chat if forum_chat is not None and forum_chat < 0 else None
        self._chats = list(chats)
        self._config = config
        self._clock = clock
        self._queues: dict[int, asyncio.Task[None]] = {}
        self._late_titles: dict[int, asyncio.Task[None]] = {}

    # --- the per-customer queue --------------------------------------------------------------

    def submit(self, customer_id: int, job: Callable[[], Awaitable[None]], what: str) -> None:
        """Run `job` after everything submitted before for this customer."""
        previous = self._queues.get(customer_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                async with self._locks.hold(customer_id):
                    await job()
            except Exception:
                # Nobody awaits this task: an error that is not logged here is never seen.
                log.exception("customer %s: the desk could not %s", customer_id, what)

        task = asyncio.create_task(run())
        self._queues[customer_id] = task
        task.add_done_callback(lambda done: self._forget_queue(customer_id, done))

    def _forget_queue(self, customer_id: int, done: asyncio.Task[None]) -> None:
        if self._queues.get(customer_id) is done:
            del self._queues[customer_id]

    async def drain(self) -> None:
        """Wait until everything submitted so far is written (tests, and a clean stop)."""
        while self._queues:
            await asyncio.gather(*self._queues.values(), return_exceptions=True)

    async def close(self) -> None:
        for task in [*self._queues.values(), *self._late_titles.values()]:
            task.cancel()
        await asyncio.gather(
            *self._queues.values(), *self._late_titles.values(), return_exceptions=True
        )

    # --- posting -----------------------------------------------------------------------------

    async def post(
        self,
        conversation: Conversation,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        topic_only: bool = False,
    ) -> None:
        """Write into the customer's topic; without topics, into every operator chat unless
        `topic_only` (the mirror, which would flood a chat without topics)."""
        thread = await self._thread(conversation.customer_id)
        if thread is not None:
            await self._post_in_topic(conversation, thread, text, markup)
            return
        if topic_only or self.forum_chat is not None:
            # With topics, a customer without one is one who was forgotten meanwhile.
            return
        for chat_id in self._chats:
            try:
                sent = await deliver(
                    lambda chat_id=chat_id: self._bot.send_message(
                        chat_id, text, reply_markup=markup
                    ),
                    f"chat {chat_id}: desk post",
                )
            except (DeliveryFailed, TelegramError) as exc:
                # An operator who never opened a chat with the bot cannot be written to.
                log.warning("chat %s: could not deliver a desk post: %s", chat_id, exc)
                continue
            await self._desk.remember_post(chat_id, sent.message_id, conversation)

    async def _post_in_topic(
        self,
        conversation: Conversation,
        thread: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
    ) -> None:
        assert self.forum_chat is not None
        forum = self.forum_chat
        for attempt in (1, 2):
            try:
                sent = await deliver(
                    lambda thread=thread: self._bot.send_message(
                        forum, text, message_thread_id=thread, reply_markup=markup
                    ),
                    f"chat {forum}: topic post",
                )
            except BadRequest as exc:
                if attempt == 2 or not _says(exc, _TOPIC_GONE):
                    raise
                log.info(
                    "customer %s: their topic %s was deleted; opening a new one",
                    conversation.customer_id,
                    thread,
                )
                recreated = await self._create(conversation.customer_id)
                if recreated is None:
                    return
                thread = recreated
                continue
            await self._desk.remember_post(forum, sent.message_id, conversation)
            return

    async def erase(self, customer_id: int, traces: DeskTraces) -> None:
        """Delete what the desk posted about a customer who asked to be forgotten, after
        everything queued for them is written. A post Telegram no longer lets the bot delete
        (older than 48 hours) gets a request to the operators to delete it."""
        erased = asyncio.get_running_loop().create_future()

        async def erase() -> None:
            try:
                await self._erase(traces)
            finally:
                erased.set_result(None)

        self.submit(customer_id, erase, "erase a forgotten customer's posts")
        await erased

    async def _erase(self, traces: DeskTraces) -> None:
        for topic in traces.topics:
            try:
                await deliver(
                    lambda topic=topic: self._bot.delete_forum_topic(  # type: ignore[misc]
                        topic.desk_chat_id, topic.thread_id
                    ),
                    f"chat {topic.desk_chat_id}: delete a topic",
                )
            except BadRequest as exc:
                if not _says(exc, _TOPIC_GONE):
                    log.warning(
                        "chat %s: a forgotten customer's topic stays (%s)", topic.desk_chat_id, exc
                    )
        # Posts in a topic went with it.
        in_topics = {topic.desk_chat_id for topic in traces.topics}
        for chat_id, message_id in traces.posts:
            if chat_id in in_topics:
                continue
            try:
                await self._bot.delete_message(chat_id, message_id)
            except BadRequest:
                await self._ask_to_delete(chat_id, message_id)
            except TelegramError as exc:
                log.warning(
                    "chat %s: could not delete a forgotten customer's post: %s", chat_id, exc
                )

    async def _ask_to_delete(self, chat_id: int, message_id: int) -> None:
        try:
            await deliver(
                lambda: self._bot.send_message(
                    chat_id,
                    "🗑 The customer this is about asked to be forgotten (/forget): please delete "
                    "this message; Telegram no longer lets the bot.",
                    reply_parameters=ReplyParameters(message_id),
                ),
                f"chat {chat_id}: ask to delete a post",
            )
        except (DeliveryFailed, TelegramError) as exc:
            log.warning(
                "chat %s: a forgotten customer's post %s stays (%s)", chat_id, message_id, exc
            )

    # --- topics ------------------------------------------------------------------------------

    async def _thread(self, customer_id: int) -> int | None:
        if self.forum_chat is None:
            return None
        topic = await self._desk.topic(self.forum_chat, customer_id)
        if topic is not None:
            return topic.thread_id
        return await self._create(customer_id)

    async def _create(self, customer_id: int) -> int | None:
        assert self.forum_chat is not None
        forum = self.forum_chat
        summary = await self._summary(customer_id)
        if summary is None:
            return None
        title = topic_title(summary)
        try:
            created = await deliver(
                lambda: self._bot.create_forum_topic(forum, title), f"chat {forum}: new topic"
            )
        except BadRequest as exc:
            if not _says(exc, _NO_TOPICS):
                raise
            log.warning(
                "chat %s: cannot open forum topics (%s); operators get alerts there instead. "
                "Make it a forum and give the bot the Manage Topics right.",
                forum,
                exc,
            )
            self.forum_chat = None
            return None
        await self._desk.save_topic(
            forum, customer_id, created.message_thread_id, title, self._clock()
        )
        return created.message_thread_id

    async def _summary(self, customer_id: int) -> CustomerSummary | None:
        summary = await self._desk.customer_summary(customer_id, TITLE_MOODS)
        if summary is None or self._intents:
            return summary
        return replace(summary, intent=None)

    async def retitle(self, customer_id: int) -> None:
        """Show the customer's latest mood, trend, intent and keywords in their topic's title, at
        most once per `[desk] title_interval`; a change inside the interval follows at its end."""
        if self.forum_chat is None:
            return
        forum = self.forum_chat
        topic = await self._desk.topic(forum, customer_id)
        summary = await self._summary(customer_id)
        if topic is None or summary is None:
            return
        title = topic_title(summary)
        if title == topic.title:
            return
        waited = (self._clock() - topic.titled_at).total_seconds()
        if waited < self._config.title_interval:
            self._retitle_later(customer_id, self._config.title_interval - waited)
            return
        try:
            await deliver(
                lambda: self._bot.edit_forum_topic(forum, topic.thread_id, name=title),
                f"chat {forum}: topic title",
            )
        except BadRequest as exc:
            if _says(exc, _TOPIC_GONE):
                # Recreated, with this title, by the next post about the customer.
                return
            if "not_modified" not in str(exc).lower():
                raise
        await self._desk.retitle(forum, customer_id, title, self._clock())

    def _retitle_later(self, customer_id: int, delay: float) -> None:
        if customer_id in self._late_titles:
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            del self._late_titles[customer_id]
            self.submit(customer_id, lambda: self.retitle(customer_id), "retitle a topic")

        self._late_titles[customer_id] = asyncio.create_task(later())
