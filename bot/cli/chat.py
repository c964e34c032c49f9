"""`moodbot chat`: a conversation in the terminal through the bot's own pipeline and database."""

from __future__ import annotations

import asyncio
import sys

from bot.config import Config
from bot.formatting import clean_incoming
from bot.operators.desk_facts import DeskFactsSync
from bot.pipeline import MoodPipeline
from engine.protocol import Engine
from engine.types import Mood, ReplyCancelled
from storage import CustomerInfo, Database, Store, migrations
from storage.desk_facts import DeskFacts

PROMPT = "you> "


class TerminalSink:
    """Prints the mood, then the reply as it streams; the final text replaces nothing."""

    def __init__(self) -> None:
        self._printed = ""

    async def start(self, mood: Mood) -> None:
        print(f"[{mood.label} {mood.confidence:.2f}] {mood.emoji} ", end="", flush=True)

    async def partial(self, text: str) -> None:
        if text.startswith(self._printed):
            print(text[len(self._printed) :], end="", flush=True)
            self._printed = text

    async def finish(self, answer: str) -> None:
        # The streamed text was raw model output; show the cleaned final reply if it differs.
        final = answer.split(" ", 1)[1] if " " in answer else answer
        if final.strip() != self._printed.strip():
            print(f"\n  ↳ {answer}", end="")
        print(flush=True)
        return None


async def chat(config: Config, engine: Engine, user_id: int) -> None:
    database = Database(config.database.url)
    await database.connect()
    await migrations.prepare(database, auto_migrate=config.database.auto_migrate)
    # The desk facts the operators taught the running bot answer here too.
    await DeskFactsSync(engine, DeskFacts(database)).refresh()
    pipeline = MoodPipeline(engine, Store(database))
    customer = CustomerInfo(id=user_id, name="terminal")
    print(
        "Talk to moodbot (Chinese or English). /reset starts over, /quit or Ctrl-D ends.",
        file=sys.stderr,
    )
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, PROMPT)
            except EOFError:
                print()
                return
            text = clean_incoming(line)
            if not text:
                continue
            if text in {"/quit", "/exit"}:
                return
            if text == "/reset":
                await pipeline.store.reset_conversation(user_id, user_id)
                pipeline.forget_conversation(user_id)
                print("(conversation reset)")
                continue
            stored, _ = await pipeline.receive(user_id, customer, text, None)
            try:
                answer = await pipeline.answer(stored, TerminalSink())
            except ReplyCancelled:
                print("\n(cancelled)")
                continue
            if answer.handoff is not None:
                print(f"  (handed to a colleague: {answer.handoff.reason})")
    finally:
        await database.close()
