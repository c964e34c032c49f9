"""What the service tests share: bot configs, the bot in-process or as a `moodbot run`
subprocess, and reading back what the database holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

from bench.fake_telegram import FakeTelegram
from bot.config import Config
from bot.service import BotService
from engine.config import EngineConfig
from engine.knowledge.base import DeskFact
from engine.reply_stream import ReplyStream
from engine.types import GroundedReply, Mood, Turn
from tests.e2e import support as e2e

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
# Generous for two slow cores, yet a hung bot fails a test in seconds, not minutes.
ANSWER_TIMEOUT = 30.0
# Importing torch and loading even the tiny model takes a while on two cores.
START_TIMEOUT = 90.0
# Well inside the unit's TimeoutStopSec=30, after which systemd would SIGKILL the bot.
STOP_DEADLINE = 10.0
READY_LINE = "moodbot is running as @"


def bot_config(fake: FakeTelegram, database_url: str, **telegram: object) -> Config:
    """The bot's config against `fake`, with short timeouts so that faults show up quickly."""
    return e2e.bot_config(
        fake, database_url, **{"connect_timeout": 2.0, "read_timeout": 2.0, **telegram}
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@asynccontextmanager
async def running(config: Config, engine: object) -> AsyncIterator[BotService]:
    """A started bot that must stop within STOP_DEADLINE, as under systemd."""
    async with e2e.running(config, engine, STOP_DEADLINE) as service:
        yield service


# --- stand-in engines ----------------------------------------------------------------------------


class _StandInEngine:
    """What every stand-in engine has in common: no model, no cache, nothing to stop."""

    def __init__(self) -> None:
        self.config = EngineConfig()
        self.load_seconds = 0.0

    def forget_conversation(self, conversation: str) -> None:
        """Nothing is cached per conversation here."""

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> None:
        """No facts: the replies are the test's."""

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing runs in the background."""


class GatedEngine(_StandInEngine):
    """Writes each reply only when the test releases it: an answer stays in progress for as
    long as a test needs, with no model running."""

    def __init__(self, reply: str = "Thanks, I am looking into it.") -> None:
        super().__init__()
        self.reply_text = reply
        self.requests: list[tuple[tuple[Turn, ...], str, asyncio.Event]] = []

    async def classify(self, text: str) -> Mood:
        return Mood("neutral", 0.9)

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStream:
        released = asyncio.Event()
        self.requests.append((tuple(history), text, released))

        async def write(on_delta: Callable[[str], None]) -> GroundedReply:
            await released.wait()
            on_delta(self.reply_text)
            return GroundedReply(self.reply_text)

        return ReplyStream(write)

    def asked(self) -> list[tuple[tuple[Turn, ...], str]]:
        """(history, text) of every reply asked for so far."""
        return [(history, text) for history, text, _ in self.requests]

    def release(self) -> None:
        """Finish every reply asked for so far (cancelled ones stay cancelled)."""
        for _, _, released in self.requests:
            released.set()


class TricklingEngine(_StandInEngine):
    """Writes the same reply to every message in `pieces` deltas `pause` seconds apart: a reply
    that streams for a while, with no model running."""

    def __init__(self, reply: str, pieces: int = 6, pause: float = 0.08) -> None:
        super().__init__()
        size = max(1, len(reply) // pieces)
        self._pieces = [reply[start : start + size] for start in range(0, len(reply), size)]
        self._reply = reply
        self._pause = pause

    async def classify(self, text: str) -> Mood:
        return Mood("negative", 0.95)

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStream:
        return ReplyStream(self._write)

    async def _write(self, on_delta: Callable[[str], None]) -> GroundedReply:
        for piece in self._pieces:
            await asyncio.sleep(self._pause)
            on_delta(piece)
        return GroundedReply(self._reply)


# --- the database, read directly --------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: int
    chat_id: int
    role: str
    text: str
    reply_to_id: int | None
    status: str
    telegram_message_id: int | None


def stored(db_path: Path, chat_id: int | None = None) -> list[Row]:
    """Every stored message (of one chat), oldest first; safe while a bot writes (WAL)."""
    if not db_path.exists():
        return []
    query = "SELECT id, chat_id, role, text, reply_to_id, status, telegram_message_id FROM messages"
    params: tuple[int, ...] = ()
    if chat_id is not None:
        query += " WHERE chat_id = ?"
        params = (chat_id,)
    with closing(sqlite3.connect(db_path, timeout=10)) as connection:
        return [Row(*row) for row in connection.execute(query + " ORDER BY id", params)]


def questions_and_answers(rows: list[Row]) -> list[tuple[Row, list[Row]]]:
    """Each customer message with the answers stored for it."""
    answers = [row for row in rows if row.role == "assistant"]
    return [
        (row, [answer for answer in answers if answer.reply_to_id == row.id])
        for row in rows
        if row.role == "user"
    ]


def assert_answered_once(db_path: Path, fake: FakeTelegram, chat_id: int, asked: list[str]) -> None:
    """Each text in `asked` stored once, in order, answered once; the chat shows exactly those
    answers, in the same order."""
    pairs = questions_and_answers(stored(db_path, chat_id))
    assert [question.text for question, _ in pairs] == asked, fake.dump()
    for question, answers in pairs:
        assert question.status == "answered", (question, fake.dump())
        assert len(answers) == 1, (question, answers)
    shown = [message.text for message in fake.messages(chat_id)]
    assert shown == [answers[0].text for _, answers in pairs], fake.dump()


# --- waiting ------------------------------------------------------------------------------------


async def wait_until(
    check: Callable[[], T | Awaitable[T]], timeout: float = ANSWER_TIMEOUT, *, what: str
) -> T:
    """Poll `check` (plain or async) until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return cast(T, result)
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def every_update_handled(fake: FakeTelegram, service: BotService) -> bool:
    """Whether the bot has fetched every update and handled each: what an update would have
    made it do is done by now (the event a test waits for instead of a pause)."""

    def quiet() -> bool:
        return (
            not fake.pending_updates()
            and service.app.update_queue.empty()
            and service.processor.current_concurrent_updates == 0
        )

    if not quiet():
        return False
    # An update just taken from the queue starts being processed one loop step later.
    await asyncio.sleep(0)
    return quiet()


def recovery_done(service: BotService) -> bool:
    """Whether the messages left pending by the last run have all had their answer."""
    return all(task.done() for task in service._recovery)


def wait_until_sync(check: Callable[[], T], timeout: float = ANSWER_TIMEOUT, *, what: str) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return result


# --- the bot as a subprocess --------------------------------------------------------------------


def _toml(value: object) -> str:
    # JSON strings, numbers and booleans are valid TOML values.
    return json.dumps(value)


def write_config(
    path: Path,
    fake: FakeTelegram,
    db_path: Path,
    model_dir: Path,
    *,
    reply: Mapping[str, object] | None = None,
    logging: Mapping[str, object] | None = None,
    telegram: Mapping[str, object] | None = None,
    database: Mapping[str, object] | None = None,
    knowledge: Mapping[str, object] | None = None,
    token: str | None = None,
) -> Path:
    """A config file for `moodbot run` against `fake`; the token goes in the file unless
    `token` is "" (then it comes from the environment)."""
    sections: dict[str, Mapping[str, object]] = {
        "telegram": {
            **({"token": token or fake.token} if token != "" else {}),
            "base_url": fake.base_url,
            "base_file_url": f"{fake.url}/file/bot",
            "poll_timeout": 1,
            "stream_edit_interval": 0.1,
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
            **e2e.UNLIMITED,
            **(telegram or {}),
        },
        "database": {"url": sqlite_url(db_path), **(database or {})},
        "model": {"name": str(model_dir), "threads": 1},
        "reply": {"max_new_tokens": 16, "temperature": 0.0, "history_tokens": 256, **(reply or {})},
        "logging": {"level": "INFO", **(logging or {})},
        **({"knowledge": knowledge} if knowledge else {}),
    }
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# The reply settings of a generation that runs for half a minute or more on the tiny model:
# sampling keeps the random model from settling on its end token early.
ENDLESS_REPLY = {"max_new_tokens": 3000, "temperature": 1.0, "seed": 1234}


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would steer the bot from outside the test."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MOODBOT_")
        and key not in {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"}
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class BotProcess:
    """`python -m bot.cli --config CONFIG ARGS…`, stdout and stderr together in one log file."""

    def __init__(
        self, config: Path, log_path: Path, *args: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), *(args or ("run",))],
            cwd=REPO,
            env=dict(env) if env is not None else clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the bot exited with {self.process.returncode}:\n{self.output()}"
                )
            return READY_LINE in self.output()

        wait_until_sync(ready, timeout, what=f"the bot to start\n{self.output()}")

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
        """Send `signum`; (exit code, seconds until the process was gone)."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(STOP_DEADLINE * 3)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the bot ignored {signum.name}:\n{self.output()}") from None
        finally:
            self._log.close()
        return code, time.monotonic() - sent

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()
