"""An answer Telegram took but the database did not store: storing it is tried again, and a
later try of the message stores that answer instead of sending the customer another one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from bot import pipeline
from bot.service import BotService
from storage import StorageError, StoredMessage
from tests.service.support import (
    GatedEngine,
    assert_answered_once,
    bot_config,
    running,
    sqlite_url,
    stored,
    wait_until,
)


def fail_storing_answers(service: BotService, times: int) -> list[int]:
    """The next `times` calls to record_answer fail as a database outage would; returns the
    list that counts every call."""
    calls: list[int] = []
    record_answer = service.store.record_answer

    async def flaky(
        message_id: int, text: str, telegram_id: int | None, evidence: Sequence[str] = ()
    ) -> StoredMessage:
        calls.append(message_id)
        if len(calls) <= times:
            raise StorageError("database is locked")
        return await record_answer(message_id, text, telegram_id, evidence)

    service.store.record_answer = flaky  # type: ignore[method-assign]
    return calls


@pytest.fixture(autouse=True)
def quick_record_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "RECORD_RETRY_DELAYS", (0.01, 0.01))


async def test_storing_a_delivered_answer_is_tried_again(fake: FakeTelegram, db_path: Path) -> None:
    customer, engine = 5501, GatedEngine()
    async with running(bot_config(fake, sqlite_url(db_path)), engine) as service:
        calls = fail_storing_answers(service, times=2)
        fake.send_text(customer, customer, "where is my parcel?")
        await wait_until(lambda: engine.requests, what="the answer to start")
        engine.release()
        await wait_until(lambda: len(calls) == 3, what="the third try to store it")
        await wait_until(lambda: len(fake.messages(customer)) == 1, what="the answer")
    assert_answered_once(db_path, fake, customer, ["where is my parcel?"])


async def test_a_delivered_answer_left_unstored_is_stored_not_sent_again(
    fake: FakeTelegram, db_path: Path
) -> None:
    customer, engine = 5502, GatedEngine()
    config = bot_config(fake, sqlite_url(db_path))
    # More failures than the answer's own tries: the message stays pending, and the retry of
    # pending messages picks it up.
    failures = len(pipeline.RECORD_RETRY_DELAYS) + 2
    service = BotService(config, engine, retry_delays=(0.05, 0.05, 0.05))  # type: ignore[arg-type]
    await service.start()
    try:
        calls = fail_storing_answers(service, times=failures)
        fake.send_text(customer, customer, "hello?")
        await wait_until(lambda: engine.requests, what="the answer to start")
        engine.release()
        await wait_until(lambda: len(calls) == failures + 1, what="the answer to be stored")
        await wait_until(
            lambda: stored(db_path, customer)[0].status == "answered",
            what="the message answered",
        )
    finally:
        await service.stop()
    # One reply generated and one message delivered, although the message was tried twice.
    assert len(engine.requests) == 1
    assert_answered_once(db_path, fake, customer, ["hello?"])
