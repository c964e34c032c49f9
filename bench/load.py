"""Load benchmark: many customers chatting at once through the real bot.

Run: .venv/bin/python -m bench.load [--customers 50] [--messages 20] [--model DIR]
(with the test extras installed: the fake Telegram server runs on aiohttp)

The whole bot (BotService: python-telegram-bot's HTTP stack, the per-chat update processor, the
SQLite store, the inference worker) runs in this process against the fake Telegram server, on
the tiny random Qwen2 model unless --model names a model directory. Each customer writes, waits
for the answer, and writes again, as people do in a chat; latency is the time from a customer's
message reaching Telegram to the final answer reaching it.

The baseline is the same load with one lock for all chats instead of one per chat: what the bot
would do if it kept every customer's order by handling one update at a time. Per-chat order lets
the inference worker batch the replies of different customers, so the ratio of the two runs is
what the design's "per-customer order, cross-customer concurrency" buys; it holds on any machine
even when the absolute figures do not.

Both runs are also checked: every message answered exactly once, in order, from the customer's
own history. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from sqlalchemy import select

from bench.fake_telegram import FakeTelegram
from bench.tiny_model import build_tiny_model, real_model_dir, tiny_engine_config
from bot.chat_order import ChatLocks
from bot.config import Config, DatabaseConfig, TelegramConfig
from bot.pipeline import strip_mood_emoji
from bot.service import BotService
from engine.knowledge.base import DeskFact, Knowledge
from engine.mood_engine import MoodEngine
from engine.protocol import Engine, ReplyStreamLike
from engine.types import Mood, Turn
from storage.models import Message

Ordering = Literal["per_chat", "global_lock"]
Pace = Literal["closed", "burst"]

FIRST_CUSTOMER = 10_001
# A lost answer must fail the run, not hang it: far beyond any answer's normal time.
ANSWER_TIMEOUT = 120.0
POLL_INTERVAL = 0.05

QUESTIONS = (
    "My parcel has not arrived yet, where is it?",
    "Thanks a lot, the headphones sound great!",
    "Can I change the delivery address of my order?",
    "The kettle stopped working after two days, this is really disappointing.",
    "我的订单什么时候发货？",
    "客服态度很好，谢谢你们！",
    "退款到现在还没到账，太让人失望了。",
    "Do you ship to Canada?",
)


def question(customer: int, turn: int) -> str:
    """Unique per customer and turn, so that every reply call can be traced to its message."""
    return f"{QUESTIONS[(customer + turn) % len(QUESTIONS)]} (#{customer}-{turn})"


class OneLockForAllChats(ChatLocks):
    """The baseline's order: every update of every chat waits for the one before it."""

    async def acquire(self, chat_id: int) -> None:
        await super().acquire(0)

    def release(self, chat_id: int) -> None:
        super().release(0)


@dataclass(frozen=True)
class ReplyCall:
    text: str
    history: tuple[Turn, ...]


class RecordingEngine:
    """The engine as the bot sees it, recording the history each reply was written from."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.config = inner.config
        self.load_seconds = inner.load_seconds
        self.calls: list[ReplyCall] = []

    async def classify(self, text: str) -> Mood:
        return await self.inner.classify(text)

    async def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        return await self.inner.classify_many(texts)

    def classify_many_sync(self, texts: Sequence[str]) -> list[Mood]:
        return self.inner.classify_many_sync(texts)

    def forget_conversation(self, conversation: str) -> None:
        self.inner.forget_conversation(conversation)

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStreamLike:
        self.calls.append(ReplyCall(text, tuple(history)))
        return self.inner.reply(history, text, mood, conversation=conversation)

    def reload_knowledge(self) -> Knowledge | None:
        return self.inner.reload_knowledge()

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> None:
        self.inner.set_desk_facts(facts)

    def healthy(self) -> bool:
        return self.inner.healthy()

    def close(self) -> None:
        """The wrapped engine belongs to the caller."""


def bot_config(fake: FakeTelegram, database_url: str) -> Config:
    """The production defaults, pointed at the fake server and a scratch database."""
    return Config(
        telegram=TelegramConfig(
            token=fake.token, base_url=fake.base_url, base_file_url=f"{fake.url}/file/bot"
        ),
        database=DatabaseConfig(url=database_url),
    )


@dataclass
class LoadResult:
    ordering: Ordering
    pace: Pace
    customers: int
    messages_per_customer: int
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        ordered = sorted(self.latencies) or [0.0]
        total = self.customers * self.messages_per_customer
        return {
            "messages": total,
            "answered": len(self.latencies),
            "wall_s": round(self.wall_s, 2),
            "throughput_msg_per_s": round(total / self.wall_s, 2) if self.wall_s else 0.0,
            "latency_p50_s": round(statistics.median(ordered), 3),
            "latency_p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
            "latency_max_s": round(ordered[-1], 3),
            "verified": not self.problems,
            "problems": self.problems[:10],
        }


async def _wait_for_answer(fake: FakeTelegram, chat_id: int, count: int) -> float:
    """When the chat's `count`-th answer reached Telegram (wall clock)."""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        shown = fake.messages(chat_id)
        if len(shown) >= count:
            return shown[count - 1].history[0].at
        if time.monotonic() >= deadline:
            raise TimeoutError(f"chat {chat_id}: answer {count} not seen in {ANSWER_TIMEOUT} s")
        await asyncio.sleep(POLL_INTERVAL)


async def _chat_closed_loop(
    fake: FakeTelegram, customer: int, messages: int, result: LoadResult
) -> None:
    for turn in range(messages):
        sent = time.time()
        fake.send_text(customer, customer, question(customer, turn))
        answered = await _wait_for_answer(fake, customer, turn + 1)
        result.latencies.append(answered - sent)


async def _chat_burst(fake: FakeTelegram, customer: int, messages: int, result: LoadResult) -> None:
    sent = []
    for turn in range(messages):
        sent.append(time.time())
        fake.send_text(customer, customer, question(customer, turn))
    for turn in range(messages):
        answered = await _wait_for_answer(fake, customer, turn + 1)
        result.latencies.append(answered - sent[turn])


async def _verify(
    service: BotService, fake: FakeTelegram, engine: RecordingEngine, result: LoadResult
) -> None:
    """Every message answered exactly once, in order, each reply written from the customer's
    earlier questions and answers."""
    problems = result.problems
    async with service.database.session() as session:
        stored = list(await session.scalars(select(Message).order_by(Message.id)))
    histories: dict[str, list[tuple[Turn, ...]]] = {}
    for call in engine.calls:
        histories.setdefault(call.text, []).append(call.history)
    for customer in range(FIRST_CUSTOMER, FIRST_CUSTOMER + result.customers):
        asked = [question(customer, turn) for turn in range(result.messages_per_customer)]
        mine = [m for m in stored if m.chat_id == customer]
        questions = [m for m in mine if m.role == "user"]
        if [m.text for m in questions] != asked:
            problems.append(f"chat {customer}: questions stored out of order or missing")
            continue
        answers = {m.reply_to_id: m for m in mine if m.role == "assistant"}
        if len(answers) != len(questions) or len(mine) != 2 * len(questions):
            problems.append(f"chat {customer}: {len(mine) - len(questions)} answers stored")
            continue
        shown = [m.text for m in fake.messages(customer)]
        expected_shown = [answers[q.id].text for q in questions]
        if shown != expected_shown:
            problems.append(f"chat {customer}: the chat shows {len(shown)} answers, not in order")
        turns: list[Turn] = []
        for q in questions:
            calls = histories.get(q.text, [])
            if calls != [tuple(turns)]:
                problems.append(f"chat {customer}: {len(calls)} replies to {q.text!r}, history off")
            turns += [
                Turn("user", q.text, q.mood_label),
                Turn("assistant", strip_mood_emoji(answers[q.id].text)),
            ]
    if fake.pending_updates():
        problems.append(f"{len(fake.pending_updates())} updates never confirmed")


async def run_load(
    engine: Engine,
    *,
    customers: int,
    messages: int,
    ordering: Ordering = "per_chat",
    pace: Pace = "closed",
    workdir: Path,
    timeout: float = 1800.0,
) -> LoadResult:
    """Run one load through a fresh bot and database, giving up after `timeout` seconds; the
    result says what went wrong."""
    result = LoadResult(ordering, pace, customers, messages)
    recording = RecordingEngine(engine)
    database_url = f"sqlite+aiosqlite:///{workdir / f'load-{ordering}-{pace}.db'}"
    chat = _chat_closed_loop if pace == "closed" else _chat_burst
    async with FakeTelegram() as fake:
        service = BotService(bot_config(fake, database_url), cast(MoodEngine, recording))
        if ordering == "global_lock":
            service.locks = service.processor.locks = OneLockForAllChats()
        await service.start()
        try:
            started = time.monotonic()
            try:
                async with asyncio.timeout(timeout):
                    outcomes = await asyncio.gather(
                        *(
                            chat(fake, customer, messages, result)
                            for customer in range(FIRST_CUSTOMER, FIRST_CUSTOMER + customers)
                        ),
                        return_exceptions=True,
                    )
                result.problems += [str(o) for o in outcomes if isinstance(o, BaseException)]
            except TimeoutError:
                result.problems.append(f"the load did not finish within {timeout} s")
            result.wall_s = time.monotonic() - started
            # Whatever was still on its way (a duplicate, a late edit) lands before the check.
            await asyncio.sleep(0.5)
            await _verify(service, fake, recording, result)
        finally:
            await service.stop()
    return result


async def _benchmark(engine: MoodEngine, customers: int, messages: int, pace: Pace) -> dict:
    with tempfile.TemporaryDirectory(prefix="moodbot-load-") as scratch:
        workdir = Path(scratch)
        # The first forward passes allocate and pick kernels; keep that out of both runs.
        await run_load(engine, customers=2, messages=2, pace=pace, workdir=workdir / "warm")
        runs = {}
        for ordering in ("per_chat", "global_lock"):
            (workdir / ordering).mkdir()
            runs[ordering] = await run_load(
                engine,
                customers=customers,
                messages=messages,
                ordering=ordering,
                pace=pace,
                workdir=workdir / ordering,
            )
    ours, baseline = (runs[name].summary() for name in ("per_chat", "global_lock"))
    return {
        "ours_per_chat_order": ours,
        "baseline_one_global_lock": baseline,
        "throughput_speedup": round(
            cast(float, ours["throughput_msg_per_s"])
            / max(cast(float, baseline["throughput_msg_per_s"]), 1e-9),
            2,
        ),
        "latency_p95_ratio_baseline_over_ours": round(
            cast(float, baseline["latency_p95_s"]) / max(cast(float, ours["latency_p95_s"]), 1e-9),
            2,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20, help="per customer")
    parser.add_argument(
        "--model", type=Path, help="a model directory (default: the tiny random Qwen2)"
    )
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument(
        "--pace",
        choices=("closed", "burst"),
        default="closed",
        help="closed: each customer waits for the answer before writing again (default); "
        "burst: each customer sends all messages at once",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="moodbot-tiny-") as scratch:
        model_dir = args.model or build_tiny_model(Path(scratch), real_model_dir())
        engine = MoodEngine.load(tiny_engine_config(model_dir, max_batch=args.max_batch))
    try:
        results = asyncio.run(_benchmark(engine, args.customers, args.messages, args.pace))
    finally:
        engine.close()
    report = {
        "benchmark": "load",
        "model": str(args.model) if args.model else "tiny random Qwen2 (2 layers, real tokenizer)",
        "max_batch": args.max_batch,
        "customers": args.customers,
        "messages_per_customer": args.messages,
        "pace": args.pace,
        "baseline": "the same load with one lock for all chats instead of one per chat",
        **results,
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
