"""A bot with operators, against the fake Telegram server, on a stand-in engine whose moods
the tests choose by the message's first word."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import cast

from bench.fake_telegram import FakeTelegram
from bot.config import Config, DatabaseConfig, OperatorsConfig, TelegramConfig
from bot.service import BotService
from engine.protocol import Engine
from engine.types import Mood, Turn

OPERATOR = 900_001
OTHER_OPERATOR = 900_002
CUSTOMER = 100_001
ANSWER_TIMEOUT = 20.0

# "sad …" is tagged negative with high confidence, "meh …" negative with low confidence.
MOODS = {
    "sad": Mood("negative", 0.97),
    "meh": Mood("negative", 0.6),
    "glad": Mood("positive", 0.92),
}
NEUTRAL = Mood("neutral", 0.55)


class CannedReply:
    def __init__(self, text: str) -> None:
        self._text = text
        self._cancelled = False

    async def __aiter__(self) -> AsyncIterator[str]:
        yield self._text

    async def text(self) -> str:
        return self._text

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled


class FirstWordEngine:
    async def classify(self, text: str) -> Mood:
        return MOODS.get(text.split()[0].strip(",:;.!?").lower(), NEUTRAL)

    def forget_conversation(self, conversation: str) -> None:
        """Nothing is cached per conversation here."""

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> CannedReply:
        return CannedReply("Thanks for telling me.")

    def healthy(self) -> bool:
        return True


def operator_config(
    fake: FakeTelegram, database_url: str, operators: OperatorsConfig | None = None
) -> Config:
    return Config(
        telegram=TelegramConfig(
            token=fake.token,
            base_url=fake.base_url,
            base_file_url=f"{fake.url}/file/bot",
            poll_timeout=0,
            stream_edit_interval=0.05,
            operator_ids=frozenset({OPERATOR, OTHER_OPERATOR}),
        ),
        database=DatabaseConfig(url=database_url),
        operators=operators or OperatorsConfig(),
    )


@asynccontextmanager
async def running_bot(config: Config) -> AsyncIterator[BotService]:
    service = BotService(config, cast(Engine, FirstWordEngine()))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
