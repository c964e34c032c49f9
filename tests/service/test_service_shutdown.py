"""Stopping: SIGTERM ends the bot within seconds, whatever it is doing; what it did not finish
stays pending and is answered once after the restart. SIGKILL loses nothing either."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from bot.service import BotService
from engine.mood_engine import MoodEngine
from tests.service.support import (
    ANSWER_TIMEOUT,
    ENDLESS_REPLY,
    STOP_DEADLINE,
    BotProcess,
    assert_answered_once,
    bot_config,
    clean_env,
    recovery_done,
    running,
    sqlite_url,
    stored,
    wait_until,
    wait_until_sync,
    write_config,
)


def _failed_sends(fake: FakeTelegram) -> list[object]:
    return [call for call in fake.calls_to("sendMessage") if call.status != 200]


@pytest.mark.parametrize("fault", ["flood control for two minutes", "an outage"])
async def test_stop_does_not_wait_for_a_delivery_that_keeps_failing(
    fake: FakeTelegram, db_path: Path, tiny_engine: MoodEngine, fault: str
) -> None:
    customer = 3101
    config = bot_config(fake, sqlite_url(db_path))
    service = BotService(config, tiny_engine)
    await service.start()
    try:
        if fault == "an outage":
            fake.fail_next("sendMessage", status=502)
        else:
            fake.fail_next("sendMessage", status=429, retry_after=120)
        fake.send_text(customer, customer, "where is my refund?")
        await wait_until(lambda: _failed_sends(fake), what="the answer's delivery to fail")
        if fault == "an outage":
            # From the first failure on, every retry fails too: minutes of backing off.
            fake.outage(120)
    finally:
        started = time.monotonic()
        await asyncio.wait_for(service.stop(), STOP_DEADLINE)
    # The answer is retried for minutes while the bot runs; a stop cuts that short.
    assert time.monotonic() - started < STOP_DEADLINE
    [question] = stored(db_path, customer)
    assert question.status == "pending"
    assert fake.messages(customer) == []

    fake.outage(0)
    async with running(config, tiny_engine) as service:
        await wait_until(lambda: recovery_done(service), what="the answer after the restart")
    assert_answered_once(db_path, fake, customer, ["where is my refund?"])


async def test_messages_queued_behind_a_stuck_answer_are_answered_once_after_a_restart(
    fake: FakeTelegram, db_path: Path, tiny_engine: MoodEngine
) -> None:
    customer = 3111
    config = bot_config(fake, sqlite_url(db_path))
    service = BotService(config, tiny_engine)
    await service.start()
    try:
        # The first answer hangs in flood control; the next two wait for their turn behind it.
        fake.fail_next("sendMessage", status=429, retry_after=60)
        for body in ("first", "second", "third"):
            fake.send_text(customer, customer, body)
        await wait_until(lambda: _failed_sends(fake), what="the first answer to be held")
        await wait_until(lambda: not fake.pending_updates(), what="all three to be fetched")
    finally:
        await asyncio.wait_for(service.stop(), STOP_DEADLINE)
    # Fetched updates are confirmed to Telegram as polling stops, so each must be stored.
    assert [(row.text, row.status) for row in stored(db_path, customer)] == [
        ("first", "pending"),
        ("second", "pending"),
        ("third", "pending"),
    ]

    async with running(config, tiny_engine) as service:
        await wait_until(lambda: recovery_done(service), what="three answers after the restart")
    assert_answered_once(db_path, fake, customer, ["first", "second", "third"])


# --- the real process: `moodbot run` and signals ---------------------------------------------


def _start(bots: list[BotProcess], config: Path, tmp_path: Path, name: str) -> BotProcess:
    bot = BotProcess(config, tmp_path / f"{name}.log", env=clean_env())
    bots.append(bot)
    bot.wait_ready()
    return bot


def test_sigterm_mid_answer_exits_promptly_and_the_answer_follows_the_restart(
    threaded_fake: FakeTelegram,
    db_path: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
    bot_processes: list[BotProcess],
) -> None:
    fake, customer = threaded_fake, 3201
    endless = write_config(
        tmp_path / "endless.toml", fake, db_path, tiny_model_dir, reply=ENDLESS_REPLY
    )
    bot = _start(bot_processes, endless, tmp_path, "first")
    fake.send_text(customer, customer, "Tell me a long story, please")
    fake.wait_for_sync(lambda: fake.drafts(customer), ANSWER_TIMEOUT, description="streaming")

    code, seconds = bot.stop(signal.SIGTERM)
    assert code == 0, bot.output()
    assert seconds < STOP_DEADLINE, bot.output()
    assert "abandoned at shutdown; it stays pending" in bot.output()
    assert "Traceback" not in bot.output()
    [question] = stored(db_path, customer)
    assert question.status == "pending"
    assert fake.messages(customer) == []

    quick = write_config(tmp_path / "quick.toml", fake, db_path, tiny_model_dir)
    bot = _start(bot_processes, quick, tmp_path, "second")
    fake.wait_for_messages_sync(customer, 1, ANSWER_TIMEOUT)
    code, _ = bot.stop(signal.SIGTERM)
    assert code == 0, bot.output()
    assert_answered_once(db_path, fake, customer, ["Tell me a long story, please"])
    assert fake.pending_updates() == []


def test_sigterm_while_a_delivery_waits_out_flood_control_exits_promptly(
    threaded_fake: FakeTelegram,
    db_path: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
    bot_processes: list[BotProcess],
) -> None:
    fake, customer = threaded_fake, 3211
    config = write_config(tmp_path / "bot.toml", fake, db_path, tiny_model_dir)
    bot = _start(bot_processes, config, tmp_path, "bot")
    fake.fail_next("sendMessage", status=429, retry_after=120)
    fake.send_text(customer, customer, "hello?")
    wait_until_sync(lambda: _failed_sends(fake), what="the answer to meet flood control")

    code, seconds = bot.stop(signal.SIGTERM)
    assert (code, seconds < STOP_DEADLINE) == (0, True), bot.output()
    assert [row.status for row in stored(db_path, customer)] == ["pending"]


def test_sigkill_mid_answer_loses_nothing_and_answers_nothing_twice(
    threaded_fake: FakeTelegram,
    db_path: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
    bot_processes: list[BotProcess],
) -> None:
    fake, customer = threaded_fake, 3221
    asked = ["my order is late", "it was due on Monday", "please call me back"]
    endless = write_config(
        tmp_path / "endless.toml", fake, db_path, tiny_model_dir, reply=ENDLESS_REPLY
    )
    bot = _start(bot_processes, endless, tmp_path, "first")
    for body in asked:
        fake.send_text(customer, customer, body)
    fake.wait_for_sync(lambda: fake.drafts(customer), ANSWER_TIMEOUT, description="streaming")
    # Telegram has forgotten all three: only the bot's database still has the two waiting
    # behind the answer in progress.
    fake.wait_for_sync(lambda: not fake.pending_updates(), ANSWER_TIMEOUT)

    code, _ = bot.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert [(row.text, row.status) for row in stored(db_path, customer)] == [
        (body, "pending") for body in asked
    ]

    quick = write_config(tmp_path / "quick.toml", fake, db_path, tiny_model_dir)
    bot = _start(bot_processes, quick, tmp_path, "second")
    # The restart answers the three pending messages one after the other, each logged once
    # it is delivered and stored: after the third, nothing more is on its way.
    wait_until_sync(
        lambda: bot.output().count("answered message") >= len(asked),
        ANSWER_TIMEOUT,
        what="the three answers after the restart",
    )
    code, _ = bot.stop(signal.SIGTERM)
    assert code == 0, bot.output()
    assert_answered_once(db_path, fake, customer, asked)
    assert fake.pending_updates() == []
