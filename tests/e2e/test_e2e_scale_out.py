"""Two bot processes (tests/e2e/scale_out_bot.py) on one PostgreSQL database, behind a load
balancer that posts every webhook update to both, taking turns at which is first: each message
is answered exactly once, and each chat in order, whichever process stored or answers it; the
operators' desk acts once too (each operator message delivered once, one topic per customer,
one takeover note, one hand-back, one digest)."""

from __future__ import annotations

import asyncio
import collections
import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bench.fake_telegram import FakeTelegram
from tests.e2e.support import UNLIMITED, rows_at
from tests.e2e.test_e2e_webhook import free_port
from tests.postgres import scratch_postgres_database
from tests.service.support import wait_until

pytestmark = pytest.mark.postgres

CHATS = (7101, 7102, 7103, 7104)
PER_CHAT = 6
PATH = "hooks/telegram"
SECRET = "webhook-secret_0123456789"
# Seconds after the first backend that the second gets the same update.
DUPLICATE_AFTER = 0.02
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database("scale_out_test") as url:
        yield url


@asynccontextmanager
async def load_balancer(port: int, backends: tuple[int, int]) -> AsyncIterator[None]:
    """Post each update to both backends, the first one first and the other a moment later
    (as a duplicated delivery would), taking turns at being first, so that the two processes
    store (and would answer) alternate messages of each chat; 200 once both took it."""
    # Per chat, how many of its updates came.
    updates: collections.Counter[int] = collections.Counter()
    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            headers = {
                "Content-Type": "application/json",
                SECRET_HEADER: request.headers.get(SECRET_HEADER, ""),
            }

            async def post(backend: int, after: float) -> int:
                await asyncio.sleep(after)
                url = f"http://127.0.0.1:{backend}/{PATH}"
                async with session.post(url, data=body, headers=headers) as answer:
                    return answer.status

            chat = chat_of(json.loads(body))
            turn = updates[chat] % 2
            updates[chat] += 1
            statuses = await asyncio.gather(
                post(backends[turn], 0.0), post(backends[1 - turn], DUPLICATE_AFTER)
            )
            return web.Response(status=200 if set(statuses) == {200} else 502)

        app = web.Application()
        app.router.add_post(f"/{PATH}", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield
        finally:
            await runner.cleanup()


def chat_of(update: dict[str, Any]) -> int:
    if "callback_query" in update:
        return int(update["callback_query"]["message"]["chat"]["id"])
    return int(update["message"]["chat"]["id"])


@contextmanager
def bot_process(
    fake: FakeTelegram,
    database_url: str,
    port: int,
    balancer: int,
    record: Path,
    **sections: dict[str, object],
) -> Iterator[subprocess.Popen[bytes]]:
    """A bot in a process of its own, its output in bot-PORT.log beside `record` (and in the
    test's stderr when the block fails), stopped (SIGTERM) at the end of the block; `sections`
    add to its config ("telegram" to that section)."""
    config = record.with_name(f"bot-{port}.json")
    telegram = {
        "token": fake.token,
        "base_url": fake.base_url,
        "base_file_url": f"{fake.url}/file/bot",
        **bot_settings(port, balancer),
        **sections.pop("telegram", {}),
    }
    config.write_text(
        json.dumps({"telegram": telegram, "database": {"url": database_url}, **sections})
    )
    log_path = bot_log(record, port)
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.scale_out_bot", str(config), str(record)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    failed = False
    try:
        yield process
    except BaseException:
        failed = True
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            log.close()
            if failed:
                # The log is in the test's tmp_path only: a failure in CI shows it here.
                print(f"--- {log_path.name} ---\n{read_log(log_path)}", file=sys.stderr)


def bot_settings(port: int, balancer: int) -> dict[str, object]:
    return {
        "poll_timeout": 1,
        "stream_edit_interval": 0.05,
        **UNLIMITED,
        "mode": "webhook",
        "webhook_listen": "127.0.0.1",
        "webhook_port": port,
        "webhook_path": PATH,
        "webhook_url": f"http://127.0.0.1:{balancer}/{PATH}",
        "webhook_secret": SECRET,
    }


def bot_log(record: Path, port: int) -> Path:
    return record.with_name(f"bot-{port}.log")


def read_log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def wait_listening(
    process: subprocess.Popen[bytes], port: int, record: Path, what: str
) -> None:
    """Wait for the bot's webhook server; a bot that exits before it listens fails the test at
    once instead of after the whole timeout (bot_process shows its log)."""

    def up() -> bool:
        if process.poll() is not None:
            log = bot_log(record, port).name
            raise AssertionError(f"{what} exited with {process.returncode} (see {log} below)")
        return listening(port)

    await wait_until(up, timeout=60.0, what=what)


async def test_two_processes_answer_each_message_once_and_in_order(
    fake: FakeTelegram, postgres_url: str, tmp_path: Path
) -> None:
    balancer, first, second = free_port(), free_port(), free_port()
    record = tmp_path / "replies.jsonl"
    sent = {chat: [f"chat {chat} message {n}" for n in range(PER_CHAT)] for chat in CHATS}
    # One after the other: each upgrades the empty database's schema on its start.
    with bot_process(fake, postgres_url, first, balancer, record) as one:
        await wait_listening(one, first, record, "the first bot")
        with bot_process(fake, postgres_url, second, balancer, record) as two:
            await wait_listening(two, second, record, "the second bot")
            async with load_balancer(balancer, (first, second)):
                for n in range(PER_CHAT):
                    for chat in CHATS:
                        fake.send_text(chat, chat, sent[chat][n])
                await wait_until(
                    lambda: all(len(fake.messages(chat)) >= PER_CHAT for chat in CHATS),
                    timeout=60.0,
                    what="every message answered",
                )
                # A second answer would come from the process that got a message second; each
                # message is done with there once it logs the copy as delivered again.
                await wait_until(
                    lambda: count_in_logs(tmp_path, DELIVERED_AGAIN) >= len(CHATS) * PER_CHAT,
                    timeout=60.0,
                    what="both processes to have handled every message",
                )
    assert (one.returncode, two.returncode) == (0, 0)
    assert set(fake.webhook_statuses) == {200}
    replies = [json.loads(line) for line in record.read_text().splitlines()]
    for chat in CHATS:
        assert len(fake.messages(chat)) == PER_CHAT
        asked = [reply for reply in replies if reply["text"] in sent[chat]]
        # Each message was written once, in order, with every earlier one answered before it.
        assert [reply["text"] for reply in asked] == sent[chat]
        for n, reply in enumerate(asked):
            assert reply["earlier"][-1:] == sent[chat][max(n - 1, 0) : n]
        stored = await rows_at(postgres_url, chat)
        questions = [row for row in stored if row.role == "user"]
        assert [row.text for row in questions] == sent[chat]
        assert {row.status for row in questions} == {"answered"}
        answers = [row.reply_to_id for row in stored if row.role == "assistant"]
        assert answers == [row.id for row in questions]


DELIVERED_AGAIN = "was delivered again; not answering twice"
FORUM = -100_720_000
OPERATOR = 720_001
CUSTOMERS = (7201, 7202)
# A line each process logs for every update the other one handles.
LEFT_TO_ANOTHER = "handled by another process"
LEFT_TO_THE_LEADER = "mood digest: left to the process leading the timed jobs"


def half_a_day_away() -> str:
    return (datetime.now(UTC) + timedelta(hours=12)).time().isoformat(timespec="seconds")


def log_lines(tmp_path: Path) -> list[str]:
    return [
        line
        for path in sorted(tmp_path.glob("bot-*.log"))
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    ]


def count_in_logs(tmp_path: Path, phrase: str) -> int:
    return sum(phrase in line for line in log_lines(tmp_path))


async def test_two_processes_act_for_the_desk_once(
    fake: FakeTelegram, postgres_url: str, tmp_path: Path
) -> None:
    fake.add_user(OPERATOR, first_name="Olga")
    for customer in CUSTOMERS:
        fake.add_user(customer, first_name=f"Customer {customer}")
    fake.add_chat(FORUM, "supergroup", title="Desk")
    fake.make_forum(FORUM)
    balancer, first, second = free_port(), free_port(), free_port()
    record = tmp_path / "replies.jsonl"
    desk = {
        "telegram": {"operator_ids": [OPERATOR]},
        # Half a day away: the digest comes when the test sends SIGUSR1, not by the clock.
        "operators": {"chat_id": FORUM, "digest_time": half_a_day_away(), "alert_streak": 0},
        "desk": {"title_interval": 0.0},
    }
    with bot_process(fake, postgres_url, first, balancer, record, **desk) as one:
        await wait_listening(one, first, record, "the first bot")
        with bot_process(fake, postgres_url, second, balancer, record, **desk) as two:
            await wait_listening(two, second, record, "the second bot")
            async with load_balancer(balancer, (first, second)):
                for n in range(2):
                    for customer in CUSTOMERS:
                        fake.send_text(customer, customer, f"customer {customer} message {n}")
                await wait_until(
                    lambda: (
                        all(len(fake.messages(c)) >= 2 for c in CUSTOMERS)
                        and len(fake.topics(FORUM)) >= len(CUSTOMERS)
                        and len(fake.messages(FORUM)) >= 4 * len(CUSTOMERS)
                    ),
                    timeout=60.0,
                    what="every message answered and mirrored",
                )
                threads = {
                    customer: next(
                        t.message_thread_id for t in fake.topics(FORUM) if str(customer) in t.name
                    )
                    for customer in CUSTOMERS
                }
                desk_updates = 0
                for n in range(2):
                    for customer in CUSTOMERS:
                        fake.send_text(
                            FORUM,
                            OPERATOR,
                            f"operator to {customer}, {n}",
                            message_thread_id=threads[customer],
                        )
                        desk_updates += 1
                notes = await wait_until(
                    lambda: (
                        len(took := [m for m in fake.messages(FORUM) if "took over" in m.text])
                        >= len(CUSTOMERS)
                        and took
                    ),
                    timeout=60.0,
                    what="the takeover notes",
                )
                await wait_until(
                    lambda: count_in_logs(tmp_path, LEFT_TO_ANOTHER) >= desk_updates,
                    timeout=60.0,
                    what="both processes to have seen every operator message",
                )
                # One conversation is handed back by its button, the other by /handback.
                [note] = [m for m in notes if m.message_thread_id == threads[CUSTOMERS[0]]]
                [[hand_back, _close]] = note.reply_markup["inline_keyboard"]  # type: ignore[index]
                fake.press_button(FORUM, OPERATOR, note.message_id, hand_back["callback_data"])
                fake.send_text(
                    FORUM, OPERATOR, "/handback", message_thread_id=threads[CUSTOMERS[1]]
                )
                desk_updates += 2
                await wait_until(
                    lambda: count_in_logs(tmp_path, LEFT_TO_ANOTHER) >= desk_updates,
                    timeout=60.0,
                    what="both processes to have seen the hand-backs",
                )
                one.send_signal(signal.SIGUSR1)
                two.send_signal(signal.SIGUSR1)
                await wait_until(
                    lambda: count_in_logs(tmp_path, "ran the timed jobs") >= 2,
                    timeout=60.0,
                    what="both processes to run their timed jobs",
                )
    assert (one.returncode, two.returncode) == (0, 0)
    assert set(fake.webhook_statuses) == {200}
    assert not [line for line in log_lines(tmp_path) if "Traceback" in line or "ERROR" in line]
    for customer in CUSTOMERS:
        from_operator = [m.text for m in fake.messages(customer) if "Support team" in m.text]
        assert from_operator == [f"👤 Support team: operator to {customer}, {n}" for n in range(2)]
    assert len(fake.topics(FORUM)) == len(CUSTOMERS)
    assert len(fake.calls_to("createForumTopic")) == len(CUSTOMERS)
    texts = [m.text for m in fake.messages(FORUM)]
    assert sum("took over" in text for text in texts) == len(CUSTOMERS)
    assert sum("Handed back" in text for text in texts) == len(CUSTOMERS)
    assert not [text for text in texts if "already answers" in text]
    assert sum(text.startswith("📊 Mood digest") for text in texts) == 1
    assert count_in_logs(tmp_path, LEFT_TO_THE_LEADER) == 1
