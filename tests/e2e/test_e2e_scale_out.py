"""Two bot processes (tests/e2e/scale_out_bot.py) on one PostgreSQL database, behind a load
balancer that posts every webhook update to both, taking turns at which is first: each message
is answered exactly once, and each chat in order, whichever process stored or answers it."""

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
from pathlib import Path

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

            chat = json.loads(body)["message"]["chat"]["id"]
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


@contextmanager
def bot_process(
    fake: FakeTelegram, database_url: str, port: int, balancer: int, record: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A bot in a process of its own, stopped (SIGTERM) at the end of the block."""
    config = record.with_name(f"bot-{port}.json")
    telegram = {
        "token": fake.token,
        "base_url": fake.base_url,
        "base_file_url": f"{fake.url}/file/bot",
        **bot_settings(port, balancer),
    }
    config.write_text(json.dumps({"telegram": telegram, "database": {"url": database_url}}))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.scale_out_bot", str(config), str(record)],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise


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


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_two_processes_answer_each_message_once_and_in_order(
    fake: FakeTelegram, postgres_url: str, tmp_path: Path
) -> None:
    balancer, first, second = free_port(), free_port(), free_port()
    record = tmp_path / "replies.jsonl"
    sent = {chat: [f"chat {chat} message {n}" for n in range(PER_CHAT)] for chat in CHATS}
    # One after the other: each upgrades the empty database's schema on its start.
    with bot_process(fake, postgres_url, first, balancer, record) as one:
        await wait_until(lambda: listening(first), timeout=60.0, what="the first bot")
        with bot_process(fake, postgres_url, second, balancer, record) as two:
            await wait_until(lambda: listening(second), timeout=60.0, what="the second bot")
            async with load_balancer(balancer, (first, second)):
                for n in range(PER_CHAT):
                    for chat in CHATS:
                        fake.send_text(chat, chat, sent[chat][n])
                await wait_until(
                    lambda: all(len(fake.messages(chat)) >= PER_CHAT for chat in CHATS),
                    timeout=60.0,
                    what="every message answered",
                )
                # A second answer to any message would come within an answer's time.
                await asyncio.sleep(0.5)
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
