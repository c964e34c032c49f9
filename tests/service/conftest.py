"""Fixtures of the service tests: the fake Telegram (in the test's loop or in a thread) and
bot subprocesses that never outlive their test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from tests.service.support import BotProcess


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(long_poll_cap=0.2) as server:
        yield server


@pytest.fixture
def threaded_fake() -> Iterator[FakeTelegram]:
    """Served from its own thread, for bots running as subprocesses."""
    with FakeTelegram(long_poll_cap=0.5) as server:
        yield server


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "moodbot.db"


@pytest.fixture
def bot_processes() -> Iterator[list[BotProcess]]:
    """Append every started bot; whatever still runs at the end of the test is killed."""
    started: list[BotProcess] = []
    yield started
    for bot in started:
        bot.kill()
