"""Two bot processes on one PostgreSQL database, behind a load balancer that posts every webhook
update to both (as a retried or duplicated delivery would): each message is answered exactly
once, and each chat in order, whichever process stored or answers it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from bench.fake_telegram import FakeTelegram
from engine.types import Mood, Turn
from engine.worker import ReplyStream
from tests.e2e.support import ScriptedEngine, bot_config, rows_at, running
from tests.e2e.test_e2e_webhook import free_port
from tests.postgres import scratch_postgres_database
from tests.service.support import wait_until

pytestmark = pytest.mark.postgres

CHATS = (7101, 7102, 7103, 7104)
PER_CHAT = 6
PATH = "hooks/telegram"
SECRET = "webhook-secret_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class RecordingEngine(ScriptedEngine):
    """Records, for every reply asked for, the customer's text and the customer turns before it
    in the history: an answer started out of order, or alongside the one before it, lacks that
    one's question there."""

    def __init__(self) -> None:
        super().__init__("Thanks, noted.", pieces=4, delay=0.03)
        self.asked: list[tuple[str, list[str]]] = []

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStream:
        earlier = [turn.text for turn in history if turn.role == "user" and turn.text != text]
        self.asked.append((text, earlier))
        return super().reply(history, text, mood, conversation=conversation)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database("scale_out_test") as url:
        yield url


@asynccontextmanager
async def load_balancer(port: int, backends: Sequence[int]) -> AsyncIterator[None]:
    """Post each update to every backend at once; 200 once all of them took it."""
    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            headers = {
                "Content-Type": "application/json",
                SECRET_HEADER: request.headers.get(SECRET_HEADER, ""),
            }

            async def post(backend: int) -> int:
                url = f"http://127.0.0.1:{backend}/{PATH}"
                async with session.post(url, data=body, headers=headers) as answer:
                    return answer.status

            statuses = await asyncio.gather(*(post(backend) for backend in backends))
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


async def test_two_processes_answer_each_message_once_and_in_order(
    fake: FakeTelegram, postgres_url: str
) -> None:
    balancer, first, second = free_port(), free_port(), free_port()

    def config(port: int):  # type: ignore[no-untyped-def]
        return bot_config(
            fake,
            postgres_url,
            mode="webhook",
            webhook_listen="127.0.0.1",
            webhook_port=port,
            webhook_path=PATH,
            webhook_url=f"http://127.0.0.1:{balancer}/{PATH}",
            webhook_secret=SECRET,
        )

    engine = RecordingEngine()
    sent = {chat: [f"chat {chat} message {n}" for n in range(PER_CHAT)] for chat in CHATS}
    async with (
        load_balancer(balancer, (first, second)),
        running(config(first), engine, stop_deadline=10.0),
        running(config(second), engine, stop_deadline=10.0),
    ):
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
    assert set(fake.webhook_statuses) == {200}
    for chat in CHATS:
        assert len(fake.messages(chat)) == PER_CHAT
        asked = [(text, earlier) for text, earlier in engine.asked if text in sent[chat]]
        # Each message was written once, in order, with every earlier one answered before it.
        assert [text for text, _ in asked] == sent[chat]
        for n, (_, earlier) in enumerate(asked):
            assert earlier[-1:] == sent[chat][max(n - 1, 0) : n]
        stored = await rows_at(postgres_url, chat)
        questions = [row for row in stored if row.role == "user"]
        assert [row.text for row in questions] == sent[chat]
        assert {row.status for row in questions} == {"answered"}
        answers = [row.reply_to_id for row in stored if row.role == "assistant"]
        assert answers == [row.id for row in questions]
