"""/forget deletes what the desk shows about the customer too: their topic with everything
mirrored in it, and the alerts about them in operator chats without topics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bench.fake_telegram import BotMessage, FakeTelegram
from bot.texts import text
from storage.models import DeskPost, DeskTopic
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER
from tests.operators.desk_support import (
    FORUM,
    ManualClock,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
    topic_posts,
)

BO = 100_002


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram(Bo=BO) as server:
        yield server


async def forget(fake: FakeTelegram, customer: int) -> None:
    before = len(fake.messages(customer))
    fake.send_text(customer, customer, "/forget")
    confirm = (await fake.wait_for_messages(customer, before + 1, timeout=ANSWER_TIMEOUT))[-1]
    fake.press_button(customer, customer, confirm.message_id, f"forget:yes:{customer}")
    done = text("forget_done", "en", count=2)
    await fake.wait_for(lambda: fake.message(customer, confirm.message_id).text == done)


async def desk_rows(service: object) -> tuple[int, int]:
    from bot.service import BotService

    assert isinstance(service, BotService)
    async with service.database.session() as session:
        topics = await session.scalar(select(func.count()).select_from(DeskTopic))
        posts = await session.scalar(select(func.count()).select_from(DeskPost))
    return topics or 0, posts or 0


async def test_forget_deletes_the_customers_topic_and_nobody_elses(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late")
        await converse(fake, service, BO, "hello")
        ann, bo = fake.topics(FORUM)
        await topic_posts(fake, service, 2, ann.message_thread_id)
        await forget(fake, CUSTOMER)
        await service.operators.channel.drain()
        left = await desk_rows(service)

    assert [topic.message_thread_id for topic in fake.topics(FORUM)] == [bo.message_thread_id]
    assert fake.messages(FORUM, thread=ann.message_thread_id) == []
    assert len(fake.messages(FORUM, thread=bo.message_thread_id)) == 2
    assert left == (1, 2)


async def test_forget_deletes_the_alerts_about_the_customer_in_a_chat_without_topics(
    fake: FakeTelegram, database_url: str
) -> None:
    group = -100_900_002
    fake.add_chat(group, "supergroup", title="Ops (no topics)")
    config = desk_config(fake, database_url, chat_id=group, alert_confidence=0.9)
    async with desk_bot(config, ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late")
        await converse(fake, service, BO, "sad it broke")
        alerts: list[BotMessage] = await fake.wait_for_messages(group, 2, timeout=ANSWER_TIMEOUT)
        await forget(fake, CUSTOMER)
        await service.operators.channel.drain()

    assert [m.text for m in fake.messages(group)] == [alerts[1].text]
    assert "Bo" in alerts[1].text


async def test_an_alert_telegram_no_longer_lets_the_bot_delete_is_left_to_the_operators(
    fake: FakeTelegram, database_url: str
) -> None:
    group = -100_900_002
    fake.add_chat(group, "supergroup", title="Ops (no topics)")
    config = desk_config(fake, database_url, chat_id=group, alert_confidence=0.9)
    async with desk_bot(config, ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late")
        [alert] = await fake.wait_for_messages(group, 1, timeout=ANSWER_TIMEOUT)
        fake.fail_next(
            "deleteMessage", status=400, description="Bad Request: message can't be deleted"
        )
        await forget(fake, CUSTOMER)
        await service.operators.channel.drain()

    [kept, request] = fake.messages(group)
    assert kept.message_id == alert.message_id
    assert request.reply_to_message_id == alert.message_id
    assert "asked to be forgotten" in request.text and "Ann" not in request.text
