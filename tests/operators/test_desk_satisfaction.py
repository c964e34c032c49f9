"""Satisfaction: a 1–5 rating asked once when a conversation ends, stored once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bench.fake_telegram import BotMessage, FakeTelegram
from bot.texts import TEXTS
from storage.desk import Conversation
from storage.models import Rating
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER, OPERATOR
from tests.operators.desk_support import (
    FORUM,
    ManualClock,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram() as server:
        yield server


async def rating_request(fake: FakeTelegram) -> BotMessage:
    found = await fake.wait_for(
        lambda: [m for m in fake.messages(CUSTOMER) if m.text == TEXTS["rate_ask"]["en"]],
        ANSWER_TIMEOUT,
        description="the rating request",
    )
    assert len(found) == 1, "asked for a rating more than once"
    return found[0]


async def stored_scores(service: object) -> list[tuple[str, int | None]]:
    from bot.service import BotService

    assert isinstance(service, BotService)
    async with service.database.session() as session:
        return [(r.ended_by, r.score) for r in await session.scalars(select(Rating))]


def request_data(request: BotMessage, score: int) -> str:
    [row] = request.reply_markup["inline_keyboard"]  # type: ignore[index]
    [data] = [button["callback_data"] for button in row if button["text"] == f"{score}⭐"]
    return str(data)


def rate(fake: FakeTelegram, request: BotMessage, score: int) -> None:
    fake.press_button(CUSTOMER, CUSTOMER, request.message_id, request_data(request, score))


async def test_close_asks_once_and_a_second_press_changes_nothing(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel")
        await service.operators.channel.drain()
        thread = fake.topics(FORUM)[0].message_thread_id
        fake.send_text(FORUM, OPERATOR, "Sent it again.", message_thread_id=thread)
        note = await fake.wait_for(
            lambda: [m for m in fake.messages(FORUM) if "took over" in m.text], ANSWER_TIMEOUT
        )
        [[_, close]] = note[0].reply_markup["inline_keyboard"]  # type: ignore[index]
        fake.press_button(FORUM, OPERATOR, note[0].message_id, close["callback_data"])
        request = await rating_request(fake)
        # Pressed twice before the bot took the keyboard away: the first press counts.
        rate(fake, request, 4)
        rate(fake, request, 1)
        await fake.wait_for(lambda: len(fake.callback_answers) >= 3, ANSWER_TIMEOUT)
        await service.operators.satisfaction.conversation_ended(
            Conversation(CUSTOMER, CUSTOMER), "close"
        )
        scores = await stored_scores(service)

    assert scores == [("close", 4)]
    assert fake.message(CUSTOMER, request.message_id).text == "Thank you for your rating: ⭐⭐⭐⭐"
    asked = [m for m in fake.messages(CUSTOMER) if m.history[0].text == TEXTS["rate_ask"]["en"]]
    assert len(asked) == 1


async def test_reset_and_idle_end_a_conversation(fake: FakeTelegram, database_url: str) -> None:
    clock = ManualClock()
    async with desk_bot(desk_config(fake, database_url, rating_idle_minutes=60), clock) as service:
        await converse(fake, service, CUSTOMER, "hello")
        fake.send_text(CUSTOMER, CUSTOMER, "/reset")
        await rating_request(fake)
        # The customer comes back later: a message at the instant of the reset's rating
        # request would count as asked about already.
        clock.advance(minutes=1)
        await converse(fake, service, CUSTOMER, "glad to be back")
        clock.advance(minutes=59)
        assert await service.operators.satisfaction.ask_idle() == 0
        clock.advance(minutes=2)
        assert await service.operators.satisfaction.ask_idle() == 1
        assert await service.operators.satisfaction.ask_idle() == 0
        scores = await stored_scores(service)

    assert scores == [("reset", None), ("idle", None)]
