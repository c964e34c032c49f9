"""A bot whose operators' chat is a forum: the desk's end-to-end tests, on a fixed clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import cast

from bench.fake_telegram import BotMessage, FakeTelegram
from bot.config import Config, DeskConfig, OperatorsConfig
from bot.service import BotService
from engine.protocol import Engine
from engine.types import Mood, Turn
from storage import Clock
from tests.e2e.support import rows, wait_for_async
from tests.operators.bot_support import (
    ANSWER_TIMEOUT,
    CUSTOMER,
    OPERATOR,
    CannedReply,
    FirstWordEngine,
    operator_config,
)

FORUM = -100_900_001
REPLY = "Thanks for telling me."


@dataclass
class ManualClock:
    """Stands still unless advanced; the store dates messages by it and the desk compares
    its times with theirs. It starts at the time of day, as a running bot's clock would."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingEngine(FirstWordEngine):
    """Moods by first word (see FirstWordEngine); remembers the history of every reply."""

    histories: list[tuple[Turn, ...]] = field(default_factory=list)

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> CannedReply:
        self.histories.append(tuple(history))
        return CannedReply(REPLY)


def desk_config(
    fake: FakeTelegram,
    database_url: str,
    *,
    chat_id: int = FORUM,
    alert_confidence: float = 1.0,
    **desk: object,
) -> Config:
    config = operator_config(
        fake,
        database_url,
        OperatorsConfig(chat_id=chat_id, alert_streak=0, alert_confidence=alert_confidence),
    )
    return replace(config, desk=DeskConfig(**{"title_interval": 0.0, **desk}))  # type: ignore[arg-type]


@asynccontextmanager
async def desk_bot(
    config: Config, clock: Clock, engine: FirstWordEngine | None = None
) -> AsyncIterator[BotService]:
    service = BotService(config, cast(Engine, engine or RecordingEngine()), clock)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def topic_posts(
    fake: FakeTelegram, service: BotService, count: int, customer_topic: int | None = None
) -> list[BotMessage]:
    """Wait until the desk has written everything queued and the (only, or given) topic has
    at least `count` bot messages; return them."""
    await service.operators.channel.drain()

    def found() -> list[BotMessage]:
        topics = fake.topics(FORUM)
        if not topics:
            return []
        thread = customer_topic or topics[-1].message_thread_id
        posts = fake.messages(FORUM, thread=thread)
        return posts if len(posts) >= count else []

    return await fake.wait_for(found, ANSWER_TIMEOUT, description=f"{count} topic posts")


async def converse(fake: FakeTelegram, service: BotService, customer: int, *texts: str) -> None:
    """The customer writes each text after the bot has dealt with the previous one."""
    for text in texts:
        before = await settled_count(service, customer)
        fake.send_text(customer, customer, text)
        await wait_for_async(
            lambda before=before: _more_settled(service, customer, before),  # type: ignore[misc]
            what=f"the bot to deal with {text!r}",
        )


async def settled_count(service: BotService, customer: int) -> int:
    """How many of the customer's messages are answered or left to an operator."""
    found = await rows(service.database, customer)
    return sum(row.role == "user" and row.status in ("answered", "human") for row in found)


async def _more_settled(service: BotService, customer: int, before: int) -> bool:
    return await settled_count(service, customer) > before


@asynccontextmanager
async def desk_telegram(**customers: int) -> AsyncIterator[FakeTelegram]:
    """The fake Bot API with the operator Olga, the customer Ann, the forum that is the desk,
    and more customers by first name."""
    async with FakeTelegram(long_poll_cap=0.2) as server:
        server.add_user(OPERATOR, first_name="Olga", username="olga_ops")
        server.add_user(CUSTOMER, first_name="Ann", username="ann")
        for first_name, user_id in customers.items():
            server.add_user(user_id, first_name=first_name)
        server.add_chat(FORUM, "supergroup", title="Support desk")
        server.make_forum(FORUM)
        yield server
