"""A bot with operators, against the fake Telegram server, on a stand-in engine whose moods
the tests choose by the message's first word."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import cast

from bench.fake_telegram import FakeTelegram
from bot.config import Config, DatabaseConfig, OperatorsConfig, TelegramConfig
from bot.service import BotService
from engine.knowledge.base import DeskFact, Knowledge, KnowledgeBase
from engine.knowledge.statements import Statement
from engine.protocol import Engine
from engine.types import HandOff, Mood, Turn
from tests.e2e.support import UNLIMITED

OPERATOR = 900_001
OTHER_OPERATOR = 900_002
CUSTOMER = 100_001
ANSWER_TIMEOUT = 20.0
# The bot's clock in these tests: five minutes past midnight UTC, the time of day when a
# fresh-clone CI run once found "5 minutes ago" on the previous day.
NOW = datetime(2024, 5, 8, 0, 5, tzinfo=UTC)

# "sad …" is tagged negative with high confidence, "meh …" negative with low confidence.
MOODS = {
    "sad": Mood("negative", 0.97),
    "meh": Mood("negative", 0.6),
    "glad": Mood("positive", 0.92),
}
NEUTRAL = Mood("neutral", 0.55)
HANDOFF_REPLY = "I've asked a colleague to check it."


class CannedReply:
    def __init__(
        self, text: str, handoff: HandOff | None = None, evidence: tuple[Statement, ...] = ()
    ) -> None:
        self._text = text
        self._cancelled = False
        self.handoff = handoff
        self.evidence = evidence

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
    knowledge: KnowledgeBase | None = None

    """Moods by the first word; a message asking "price …" is handed off (as if the facts were
    silent). Reloads the facts of `knowledge`, if given."""

    def __init__(self, knowledge: KnowledgeBase | None = None) -> None:
        self.knowledge = knowledge

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
        if text.startswith("price"):
            return CannedReply(HANDOFF_REPLY, HandOff("the facts do not answer it", text))
        return CannedReply("Thanks for telling me.")

    async def complete(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, low_priority: bool = False
    ) -> str:
        """No complaint keywords (see KeywordEngine)."""
        return ""

    def reload_knowledge(self) -> Knowledge | None:
        return self.knowledge.reload() if self.knowledge is not None else None

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> None:
        if self.knowledge is not None:
            self.knowledge.set_desk_facts(facts)

    def healthy(self) -> bool:
        return True


class KeywordEngine(FirstWordEngine):
    async def complete(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, low_priority: bool = False
    ) -> str:
        """Complaint keywords: the message's words after its first (the mood word), at most
        two."""
        message = messages[-1]["content"].split(":", 1)[1].splitlines()[0]
        return ", ".join(message.split()[1:3])


def operator_config(
    fake: FakeTelegram, database_url: str, operators: OperatorsConfig | None = None
) -> Config:
    return Config(
        telegram=TelegramConfig(
            token=fake.token,
            base_url=fake.base_url,
            base_file_url=f"{fake.url}/file/bot",
            poll_timeout=1,
            stream_edit_interval=0.05,
            operator_ids=frozenset({OPERATOR, OTHER_OPERATOR}),
            **UNLIMITED,
        ),
        database=DatabaseConfig(url=database_url),
        operators=operators or OperatorsConfig(),
    )


@asynccontextmanager
async def running_bot(
    config: Config, engine: FirstWordEngine | None = None
) -> AsyncIterator[BotService]:
    service = BotService(config, cast(Engine, engine or FirstWordEngine()), clock=lambda: NOW)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
