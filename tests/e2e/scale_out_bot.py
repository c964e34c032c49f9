"""One bot process of the scale-out test: a webhook bot with a stand-in engine that appends,
for every reply it is asked for, the customer's text and the customer turns before it to a
shared file (one JSON line each, in the order the replies start across every process).

python -m tests.e2e.scale_out_bot CONFIG.json RECORD.jsonl
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from bot.config import Config, DatabaseConfig, TelegramConfig
from bot.service import serve
from engine.protocol import Engine
from engine.types import Mood, Turn
from engine.worker import ReplyStream
from tests.e2e.support import ScriptedEngine


class RecordingEngine(ScriptedEngine):
    """An answer started out of order, or alongside the one before it, lacks that one's
    question among the earlier turns it records."""

    def __init__(self, record: Path) -> None:
        super().__init__("Thanks, noted.", pieces=4, delay=0.03)
        self._record = record

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStream:
        earlier = [turn.text for turn in history if turn.role == "user" and turn.text != text]
        # One short append per line: the processes' lines do not interleave.
        with self._record.open("a", encoding="utf-8") as record:
            record.write(json.dumps({"text": text, "earlier": earlier}) + "\n")
        return super().reply(history, text, mood, conversation=conversation)

    def healthy(self) -> bool:
        return True


def main(config_path: str, record_path: str) -> None:
    values = json.loads(Path(config_path).read_text(encoding="utf-8"))
    config = Config(
        telegram=TelegramConfig(**values["telegram"]),
        database=DatabaseConfig(**values["database"]),
    )
    asyncio.run(serve(config, cast(Engine, RecordingEngine(Path(record_path)))))


if __name__ == "__main__":
    main(*sys.argv[1:])
