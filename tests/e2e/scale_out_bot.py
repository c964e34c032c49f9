"""One bot process of the scale-out test: a webhook bot with a stand-in engine that appends,
for every reply it is asked for, the customer's text and the customer turns before it to a
shared file (one JSON line each, in the order the replies start across every process).

It runs until SIGTERM; SIGUSR1 runs every timed job (the digest, the idle checks) at once, as
its time would, and then logs "ran the timed jobs". It logs to stderr.

python -m tests.e2e.scale_out_bot CONFIG.json RECORD.jsonl
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import time
from pathlib import Path
from typing import cast

from bot.config import Config, DatabaseConfig, DeskConfig, OperatorsConfig, TelegramConfig
from bot.service import BotService
from engine.protocol import Engine
from engine.reply_stream import ReplyStream
from engine.types import Mood, Turn
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


log = logging.getLogger("scale_out_bot")


async def run_timed_jobs(service: BotService) -> None:
    assert service.app.job_queue is not None
    for job in service.app.job_queue.jobs():
        await job.run(service.app)
    log.info("ran the timed jobs")


async def serve(config: Config, engine: Engine) -> None:
    service = BotService(config, engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    jobs: set[asyncio.Task[None]] = set()

    def timed_jobs_now() -> None:
        task = loop.create_task(run_timed_jobs(service))
        jobs.add(task)
        task.add_done_callback(jobs.discard)

    loop.add_signal_handler(signal.SIGUSR1, timed_jobs_now)
    await service.start()
    try:
        await stop.wait()
    finally:
        await service.stop()


def main(config_path: str, record_path: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    values = json.loads(Path(config_path).read_text(encoding="utf-8"))
    operators = values.get("operators", {})
    if "digest_time" in operators:
        operators["digest_time"] = time.fromisoformat(operators["digest_time"])
    telegram = values["telegram"]
    telegram["operator_ids"] = frozenset(telegram.get("operator_ids", ()))
    config = Config(
        telegram=TelegramConfig(**telegram),
        database=DatabaseConfig(**values["database"]),
        operators=OperatorsConfig(**operators),
        desk=DeskConfig(**values.get("desk", {})),
    )
    asyncio.run(serve(config, cast(Engine, RecordingEngine(Path(record_path)))))


if __name__ == "__main__":
    main(*sys.argv[1:])
