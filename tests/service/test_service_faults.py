"""Telegram and the database misbehaving while customers write: flood control and outages
during polling and streaming, calls that time out although Telegram acted on them, and the
database locked by someone else. Every message is answered once, in order, nothing is lost."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from engine.mood_engine import MoodEngine
from tests.service.support import (
    ANSWER_TIMEOUT,
    GatedEngine,
    TricklingEngine,
    assert_answered_once,
    bot_config,
    questions_and_answers,
    running,
    sqlite_url,
    stored,
    wait_until,
)

REPLY = "I am sorry about the delay. I have checked your order and it ships tomorrow morning."


def _all_answered(db_path: Path, asked: dict[int, list[str]]) -> bool:
    for chat_id, texts in asked.items():
        pairs = questions_and_answers(stored(db_path, chat_id))
        if len(pairs) < len(texts) or any(q.status != "answered" for q, _ in pairs):
            return False
    return True


def _say(fake: FakeTelegram, asked: dict[int, list[str]], chat_id: int, body: str) -> None:
    """Customer `chat_id` writes `body` (in a group, the customer whose id is the group's
    negated, mentioning the bot: the mention is dropped from what is stored)."""
    asked.setdefault(chat_id, []).append(body)
    if chat_id > 0:
        fake.send_text(chat_id, chat_id, body)
    else:
        text, entities = fake.mention_bot(body)
        fake.send_text(chat_id, -chat_id, text, entities=entities)


async def test_flood_control_and_an_outage_while_polling_lose_nothing(
    fake: FakeTelegram, db_path: Path, tiny_engine: MoodEngine
) -> None:
    asked: dict[int, list[str]] = {}
    chats = [4101, 4102, -4103]
    async with running(bot_config(fake, sqlite_url(db_path)), tiny_engine):
        fake.fail_next("getUpdates", 3, status=429, retry_after=1)
        for chat_id in chats:
            _say(fake, asked, chat_id, f"first from {chat_id}")
        await wait_until(lambda: _all_answered(db_path, asked), what="answers after 429s")

        fake.outage(2.0)
        for chat_id in chats:
            _say(fake, asked, chat_id, f"second from {chat_id}")
            _say(fake, asked, chat_id, f"third from {chat_id}")
        await wait_until(lambda: _all_answered(db_path, asked), what="answers after the outage")
        await asyncio.sleep(0.3)

    assert [call.status for call in fake.calls_to("getUpdates")].count(429) == 3
    assert 502 in [call.status for call in fake.calls_to("getUpdates")]
    for chat_id, texts in asked.items():
        assert_answered_once(db_path, fake, chat_id, texts)
    assert fake.pending_updates() == []


async def test_flood_control_and_server_errors_while_streaming_still_answer_once_each(
    fake: FakeTelegram, db_path: Path
) -> None:
    asked: dict[int, list[str]] = {}
    private, groups = [4201, 4202, 4203], [-4204, -4205, -4206]
    engine = TricklingEngine(REPLY)
    async with running(bot_config(fake, sqlite_url(db_path)), engine):
        # Faults on every call an answer makes on its way, spread over the customers' answers.
        fake.fail_next("sendMessageDraft", 4, status=429, retry_after=1)
        fake.fail_next("sendChatAction", 3, status=502)
        fake.fail_next("editMessageText", 3, status=429, retry_after=1)
        fake.fail_next("editMessageText", 2, status=502)
        fake.fail_next("sendMessage", 2, status=429, retry_after=1)
        fake.fail_next("sendMessage", 2, status=500)
        for turn in range(2):
            for chat_id in private + groups:
                _say(fake, asked, chat_id, f"question {turn} from {chat_id}")
        await wait_until(lambda: _all_answered(db_path, asked), 60.0, what="every answer")
        # A fault outlasting the answers in progress would show as a stray edit or message.
        fake.outage(1.0)
        await asyncio.sleep(1.5)

    failed = [call for call in fake.calls if call.status != 200]
    assert {call.method for call in failed} >= {"sendMessage", "editMessageText"}
    for chat_id, texts in asked.items():
        assert_answered_once(db_path, fake, chat_id, texts)
        # The shown answer is the whole reply: no half-streamed preview was left behind.
        assert all(message.text.endswith(REPLY) for message in fake.messages(chat_id))


@pytest.mark.parametrize("chat_id", [4301, -4302], ids=["private", "group"])
async def test_a_timed_out_final_message_that_telegram_delivered_anyway(
    fake: FakeTelegram, db_path: Path, chat_id: int
) -> None:
    """Telegram acted on the call, but its answer never came back: the bot cannot tell this
    from a call that was lost, and sends again. Deliberately so: a customer who sees the same
    answer twice is better off than one who never gets it. In private chats the copy shows
    (a second identical message); in groups the final answer is an edit of the streamed
    placeholder, and editing twice to the same text changes nothing. Either way the database
    holds one answer, and no restart answers the message again."""
    asked: dict[int, list[str]] = {}
    engine = GatedEngine()
    final_method = "sendMessage" if chat_id > 0 else "editMessageText"
    config = bot_config(fake, sqlite_url(db_path), read_timeout=1.0)
    async with running(config, engine):
        _say(fake, asked, chat_id, "is my refund on its way?")
        await wait_until(lambda: engine.requests, what="the answer to start")
        # Held twice as long as the bot waits, then carried out: after the bot has retried.
        fake.fail_next(final_method, status="timeout", delay=2.0)
        engine.release()
        await wait_until(lambda: _all_answered(db_path, asked), what="the answer")
        await asyncio.sleep(2.5)

    [(question, [answer])] = questions_and_answers(stored(db_path, chat_id))
    assert question.status == "answered"
    shown = [message.text for message in fake.messages(chat_id)]
    assert shown == [answer.text] * (2 if chat_id > 0 else 1), fake.dump()

    async with running(config, engine):
        await asyncio.sleep(1.0)
    assert [message.text for message in fake.messages(chat_id)] == shown
    assert len(engine.requests) == 1


@pytest.mark.parametrize("seconds", [3.0, 7.0], ids=["within busy_timeout", "beyond it"])
async def test_database_locked_by_another_connection(
    fake: FakeTelegram, db_path: Path, tiny_engine: MoodEngine, seconds: float
) -> None:
    """Another process (a backup, an operator's sqlite3 shell) holds SQLite's write lock. The
    bot waits up to busy_timeout (5 s) for each write; a message whose store on arrival gives
    up is stored again in its turn, so a lock of up to about twice that loses nothing."""
    asked: dict[int, list[str]] = {}
    chats = [4401, 4402, -4403]
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with closing(sqlite3.connect(db_path, isolation_level=None, timeout=10)) as other:
            other.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait(ANSWER_TIMEOUT)
            other.execute("COMMIT")

    async with running(bot_config(fake, sqlite_url(db_path)), tiny_engine):
        holder = asyncio.create_task(asyncio.to_thread(hold_the_lock))
        await asyncio.to_thread(locked.wait, ANSWER_TIMEOUT)
        started = time.monotonic()
        for chat_id in chats:
            for turn in range(3):
                _say(fake, asked, chat_id, f"message {turn} from {chat_id}")
        await asyncio.sleep(seconds)
        # Nothing can be written meanwhile, so nothing was answered.
        assert not any(row.role == "assistant" for row in stored(db_path))
        release.set()
        await holder
        await wait_until(lambda: _all_answered(db_path, asked), what="every answer")
        assert time.monotonic() - started >= seconds

    for chat_id, texts in asked.items():
        assert_answered_once(db_path, fake, chat_id, texts)
