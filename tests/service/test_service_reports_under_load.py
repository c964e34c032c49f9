"""Operators' reports from another process while the bot answers many chats: on SQLite no
write of the bot may fail or wait out the busy timeout because a report is reading."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.fake_telegram import FakeTelegram
from tests.service.support import (
    ANSWER_TIMEOUT,
    Row,
    TricklingEngine,
    bot_config,
    clean_env,
    running,
    sqlite_url,
    stored,
    wait_until,
)

CHATS = range(4401, 4413)
MESSAGES_PER_CHAT = 3
# Longer than the bot's busy_timeout (5 s): a report holding the write lock this long would
# make the bot's writes fail.
LONG_READ_SECONDS = 6.5

LONG_READER = textwrap.dedent(
    """
    import asyncio, sys
    from sqlalchemy import text
    from storage import Database
    from storage.mood_log import MoodFilter, MoodLog
    from storage.transaction import read_transaction

    async def main() -> None:
        database = Database(sys.argv[1])
        await database.connect()
        async with read_transaction(database) as session:
            await MoodLog(database).entries(MoodFilter())
            await session.execute(text("SELECT count(*) FROM messages"))
            print("reading", flush=True)
            await asyncio.sleep(float(sys.argv[2]))
        await database.close()

    asyncio.run(main())
    """
)


def _config_file(tmp_path: Path, db_path: Path) -> Path:
    path = tmp_path / "reports.toml"
    path.write_text(f'[database]\nurl = "{sqlite_url(db_path)}"\n', encoding="utf-8")
    return path


async def test_reports_in_another_process_never_fail_the_bots_writes(
    fake: FakeTelegram, db_path: Path, tmp_path: Path
) -> None:
    engine = TricklingEngine("Thanks, I am on it.", pieces=3, pause=0.02)
    config = _config_file(tmp_path, db_path)
    async with running(bot_config(fake, sqlite_url(db_path)), engine):
        fake.send_text(CHATS[0], CHATS[0], "first")
        await wait_until(lambda: fake.messages(CHATS[0]), what="the first answer")
        reader = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            LONG_READER,
            sqlite_url(db_path),
            str(LONG_READ_SECONDS),
            stdout=subprocess.PIPE,
            env=clean_env(),
        )
        assert reader.stdout is not None
        assert await asyncio.wait_for(reader.stdout.readline(), 60) == b"reading\n"
        reports = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                *command,
                "--config",
                str(config),
                stdout=subprocess.DEVNULL,
                env=clean_env(),
            )
            for command in (["report", "--out", str(tmp_path / "r.png")], ["moods"])
        ]
        # The load arrives while the long read is open.
        for round_ in range(MESSAGES_PER_CHAT):
            for chat in CHATS:
                fake.send_text(chat, chat, f"question {round_}")
        await wait_until(
            lambda: len(answered(db_path)) == 1 + len(CHATS) * MESSAGES_PER_CHAT,
            timeout=ANSWER_TIMEOUT,
            what="every message answered",
        )
        assert await asyncio.wait_for(reader.wait(), 60) == 0
        assert [await asyncio.wait_for(report.wait(), 120) for report in reports] == [0, 0]

    assert {row.status for row in stored(db_path) if row.role == "user"} == {"answered"}


def answered(db_path: Path) -> list[Row]:
    return [row for row in stored(db_path) if row.role == "user" and row.status == "answered"]
