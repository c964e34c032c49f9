"""Telegram's flood limits are kept across all chats: many answers streaming at once never
make more Bot API requests per second than configured."""

from __future__ import annotations

from pathlib import Path

from bench.fake_telegram import FakeTelegram
from tests.service.support import (
    TricklingEngine,
    bot_config,
    running,
    sqlite_url,
    wait_until,
)

CHATS = range(5501, 5513)
PER_SECOND = 4.0


def busiest_second(times: list[float]) -> int:
    """The most requests in any one-second window."""
    times = sorted(times)
    return max(
        sum(1 for other in times[index:] if other - start < 1.0)
        for index, start in enumerate(times)
    )


async def test_answers_to_many_chats_stay_under_the_request_rate(
    fake: FakeTelegram, db_path: Path
) -> None:
    engine = TricklingEngine("Thanks, I am looking into it right now.", pieces=3, pause=0.01)
    config = bot_config(fake, sqlite_url(db_path), max_requests_per_second=PER_SECOND)
    async with running(config, engine):
        for chat in CHATS:
            fake.send_text(chat, chat, "hello?")
        await wait_until(
            lambda: all(fake.messages(chat) for chat in CHATS),
            timeout=60,
            what="every chat answered",
        )
    into_chats = [call.at for call in fake.calls if "chat_id" in call.params]
    assert len(into_chats) >= len(CHATS)
    # A leaky bucket of PER_SECOND: a full bucket's burst plus one second's refill, and two
    # for requests the network brings in a little late (unlimited, all 30-odd come at once).
    assert busiest_second(into_chats) <= 2 * PER_SECOND + 2
