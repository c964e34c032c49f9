"""The real bot (BotService) against the fake Telegram server, on the tiny model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from bench.tiny_model import tiny_engine_config
from bot.service import BotService
from engine.config import SamplingConfig
from engine.mood_engine import MoodEngine
from tests.e2e.support import bot_config, running


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(long_poll_cap=0.2) as server:
        yield server


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'moodbot.db'}"


@pytest.fixture
async def running_bot(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> AsyncIterator[BotService]:
    async with running(bot_config(fake, database_url), tiny_engine) as service:
        yield service


def _sampling_engine(model_dir: Path, max_new_tokens: int) -> MoodEngine:
    # Sampling at temperature 1 keeps the random model from settling on its end token early.
    sampling = SamplingConfig(
        max_new_tokens=max_new_tokens, temperature=1.0, history_tokens=256, seed=1234
    )
    return MoodEngine.load(replace(tiny_engine_config(model_dir), sampling=sampling))


@pytest.fixture(scope="session")
def lively_engine(tiny_model_dir: Path) -> Iterator[MoodEngine]:
    """The tiny model writing about a second per reply: enough for several stream updates."""
    engine = _sampling_engine(tiny_model_dir, max_new_tokens=64)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def endless_engine(tiny_model_dir: Path) -> Iterator[MoodEngine]:
    """The tiny model writing for half a minute or more: an answer a test can interrupt."""
    engine = _sampling_engine(tiny_model_dir, max_new_tokens=3000)
    yield engine
    engine.close()
