"""Webhook mode: the fake Bot API posts each update to the bot's own HTTP server, as Telegram
does behind a reverse proxy; order, storing and stopping are as with polling."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bench.fake_telegram import FakeTelegram
from storage.models import Message
from tests.e2e.support import ScriptedEngine, bot_config, running
from tests.service.support import GatedEngine, every_update_handled, stored, wait_until

SECRET = "webhook-secret_0123456789"
PATH = "hooks/telegram"
CUSTOMER = 6601
OTHER = 6602


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


def webhook_config(fake: FakeTelegram, db_path: Path, port: int):  # type: ignore[no-untyped-def]
    return bot_config(
        fake,
        f"sqlite+aiosqlite:///{db_path}",
        mode="webhook",
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_path=PATH,
        webhook_url=f"http://127.0.0.1:{port}/{PATH}",
        webhook_secret=SECRET,
    )


async def test_updates_posted_to_the_webhook_are_answered_in_order(
    fake: FakeTelegram, tmp_path: Path, port: int
) -> None:
    db_path = tmp_path / "moodbot.db"
    engine = ScriptedEngine("Thanks, noted.", pieces=3, delay=0.02)
    async with running(webhook_config(fake, db_path, port), engine, stop_deadline=10.0):
        assert fake.webhook_url == f"http://127.0.0.1:{port}/{PATH}"
        for text in ("one", "two", "three"):
            fake.send_text(CUSTOMER, CUSTOMER, text)
        fake.send_text(OTHER, OTHER, "hello from elsewhere")
        await wait_until(
            lambda: len(fake.messages(CUSTOMER)) == 3 and fake.messages(OTHER),
            what="every message answered",
        )
        # Delivered: Telegram keeps nothing pending for a webhook that answered 200.
        assert fake.pending_updates() == []
    questions = [row for row in stored(db_path, CUSTOMER) if row.role == "user"]
    assert [row.text for row in questions] == ["one", "two", "three"]
    assert {row.status for row in questions} == {"answered"}
    answers = [row for row in stored(db_path, CUSTOMER) if row.role == "assistant"]
    # Each answer follows its own question: the chat was answered in order.
    assert [row.reply_to_id for row in answers] == [row.id for row in questions]
    assert set(fake.webhook_statuses) == {200}


@pytest.mark.parametrize("secret", [None, "wrong-secret"], ids=["no secret", "wrong secret"])
async def test_a_post_without_the_secret_is_refused(
    fake: FakeTelegram, tmp_path: Path, port: int, secret: str | None
) -> None:
    db_path = tmp_path / "moodbot.db"
    forged = {
        "update_id": 999_001,
        "message": {
            "message_id": 77,
            "date": 1_715_000_000,
            "chat": {"id": CUSTOMER, "type": "private"},
            "from": {"id": CUSTOMER, "is_bot": False, "first_name": "Mallory"},
            "text": "forged",
        },
    }
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    engine = ScriptedEngine("Thanks.")
    async with running(webhook_config(fake, db_path, port), engine, stop_deadline=10.0) as bot:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/{PATH}", json=forged, headers=headers) as answer,
        ):
            assert answer.status == 403
        # Refused before it was queued; were it queued, it would be handled by now.
        await wait_until(lambda: every_update_handled(fake, bot), what="every update handled")
        async with bot.database.session() as session:
            assert (await session.scalars(select(Message))).all() == []
    assert fake.messages(CUSTOMER) == []


async def test_messages_are_stored_on_arrival_and_a_stop_stays_bounded(
    fake: FakeTelegram, tmp_path: Path, port: int
) -> None:
    db_path = tmp_path / "moodbot.db"
    engine = GatedEngine()
    async with running(webhook_config(fake, db_path, port), engine, stop_deadline=10.0):
        fake.send_text(CUSTOMER, CUSTOMER, "first")
        await wait_until(lambda: engine.requests, what="the first answer to start")
        fake.send_text(CUSTOMER, CUSTOMER, "second")
        # Waiting behind the first answer, the second is already stored.
        await wait_until(lambda: len(stored(db_path, CUSTOMER)) == 2, what="both stored")
    # The stop abandoned the answer in progress: both stay pending for the next start.
    assert [row.status for row in stored(db_path, CUSTOMER)] == ["pending", "pending"]
