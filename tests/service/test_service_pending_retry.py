"""An answer that Telegram did not take stays pending and is tried again in this process,
with a growing delay; after the last try the message fails and the operators hear of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import cast

from bench.fake_telegram import FakeTelegram
from bot.config import Config, OperatorsConfig
from bot.service import BotService
from engine.protocol import Engine
from tests.service.support import (
    STOP_DEADLINE,
    TricklingEngine,
    bot_config,
    sqlite_url,
    stored,
    wait_until,
)

CUSTOMER = 7701
OPERATOR = 7799
REPLY = "Thanks, I am looking into it."
DELAYS = (0.2, 0.4)


@asynccontextmanager
async def retrying_bot(config: Config) -> AsyncIterator[BotService]:
    engine = TricklingEngine(REPLY, pieces=2, pause=0.01)
    service = BotService(config, cast(Engine, engine), retry_delays=DELAYS)
    await service.start()
    try:
        yield service
    finally:
        await asyncio.wait_for(service.stop(), STOP_DEADLINE)


def config_for(fake: FakeTelegram, db_path: Path) -> Config:
    fake.add_user(OPERATOR, first_name="Olga")
    config = bot_config(fake, sqlite_url(db_path))
    # Operators get notes about failed messages only: no mood alerts.
    quiet = OperatorsConfig(chat_id=OPERATOR, alert_confidence=1.0, alert_streak=0)
    return replace(config, operators=quiet)


def questions(db_path: Path) -> list[str]:
    return [row.status for row in stored(db_path, CUSTOMER) if row.role == "user"]


async def test_an_answer_telegram_refused_once_is_given_on_the_next_try(
    fake: FakeTelegram, db_path: Path
) -> None:
    fake.fail_next("sendMessage", status=400, description="Bad Request: try later")
    async with retrying_bot(config_for(fake, db_path)):
        fake.send_text(CUSTOMER, CUSTOMER, "where is my parcel?")
        await wait_until(lambda: questions(db_path) == ["answered"], what="the retried answer")
        answers = fake.messages(CUSTOMER)
    assert [message.text for message in answers] == [f"😢 {REPLY}"]
    assert fake.messages(OPERATOR) == []


async def test_after_the_last_try_the_message_fails_and_operators_are_told(
    fake: FakeTelegram, db_path: Path
) -> None:
    # The first answer and every retry meet the same refusal.
    fake.fail_next(
        "sendMessage", 1 + len(DELAYS), status=400, description="Bad Request: chat is broken"
    )
    async with retrying_bot(config_for(fake, db_path)):
        fake.send_text(CUSTOMER, CUSTOMER, "hello?")
        [note] = await fake.wait_for_messages(OPERATOR, 1, timeout=30)
        await wait_until(lambda: questions(db_path) == ["failed"], what="the message to fail")
    assert fake.messages(CUSTOMER) == []
    assert "could not be answered" in note.text and "Chat is broken" in note.text
    assert f"after {1 + len(DELAYS)} tries" in note.text
