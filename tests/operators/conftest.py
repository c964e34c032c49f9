from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from bot.service import BotService
from tests.operators.bot_support import (
    CUSTOMER,
    OPERATOR,
    OTHER_OPERATOR,
    operator_config,
    running_bot,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(long_poll_cap=0.2) as server:
        server.add_user(OPERATOR, first_name="Olga", username="olga_ops")
        server.add_user(OTHER_OPERATOR, first_name="Oskar")
        server.add_user(CUSTOMER, first_name="Ann", username="ann_k")
        yield server


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'moodbot.db'}"


@pytest.fixture
async def bot(fake: FakeTelegram, database_url: str) -> AsyncIterator[BotService]:
    async with running_bot(operator_config(fake, database_url)) as service:
        yield service
