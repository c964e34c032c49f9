"""What operators write to a customer goes to the customer's private chat, never to a group
they once mentioned the bot in unless an operator confirms; operator commands that show
customers' data answer only in the operators' chats."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench.fake_telegram import BotMessage, FakeTelegram
from tests.e2e.support import rows, wait_for_async, wait_for_status
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER, OPERATOR
from tests.operators.desk_support import (
    FORUM,
    ManualClock,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
)

GROUP = -100_555_001
BO = 100_002


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram(Bo=BO) as server:
        server.add_chat(GROUP, "supergroup", title="Ann's book club")
        yield server


async def write_in_group(fake: FakeTelegram, service: object, customer: int, text: str) -> None:
    from bot.service import BotService

    assert isinstance(service, BotService)
    before = len([r for r in await rows(service.database, GROUP) if r.customer_id == customer])
    body, entities = fake.mention_bot(text)
    fake.send_text(GROUP, customer, body, entities=entities)
    await wait_for_status(service.database, GROUP, before // 2 + 1)


def topic_of(fake: FakeTelegram, name: str) -> int:
    [topic] = [t for t in fake.topics(FORUM) if name in t.names[0]]
    return topic.message_thread_id


async def test_a_topic_message_goes_to_the_private_chat_not_the_group_written_in_last(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "hello")
        await write_in_group(fake, service, CUSTOMER, "my parcel is late")
        await service.operators.channel.drain()
        in_group = len(fake.messages(GROUP))
        fake.send_text(
            FORUM, OPERATOR, "It ships today, Ann.", message_thread_id=topic_of(fake, "Ann")
        )
        delivered = await fake.wait_for_messages(CUSTOMER, 2, timeout=ANSWER_TIMEOUT)
        await service.operators.channel.drain()

    assert delivered[-1].text == "👤 Support team: It ships today, Ann."
    assert len(fake.messages(GROUP)) == in_group


async def confirmation(fake: FakeTelegram) -> BotMessage:
    found = await fake.wait_for(
        lambda: [m for m in fake.messages(FORUM) if m.reply_markup and "group" in m.text],
        ANSWER_TIMEOUT,
        description="the question whether to write in the group",
    )
    return found[-1]


async def test_a_customer_seen_only_in_a_group_is_written_to_there_once_confirmed(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await write_in_group(fake, service, BO, "hello")
        await service.operators.channel.drain()
        in_group = len(fake.messages(GROUP))
        fake.send_text(FORUM, OPERATOR, "Hi Bo, Olga here.", message_thread_id=topic_of(fake, "Bo"))
        question = await confirmation(fake)
        unconfirmed = len(fake.messages(GROUP))
        [[button]] = question.reply_markup["inline_keyboard"]  # type: ignore[index]
        fake.press_button(FORUM, OPERATOR, question.message_id, button["callback_data"])
        delivered = await fake.wait_for_messages(GROUP, in_group + 1, timeout=ANSWER_TIMEOUT)

        # Stored once Telegram took it.
        async def operator_row() -> list[str]:
            roles = [row.role for row in await rows(service.database, GROUP)]
            return roles if roles[-1] == "operator" else []

        stored = await wait_for_async(operator_row, what="the operator's message to be stored")

    assert unconfirmed == in_group
    assert "group" in question.text and str(GROUP) in question.text
    assert delivered[-1].text == "👤 Support team: Hi Bo, Olga here."
    assert stored == ["user", "assistant", "operator"]
    assert fake.message(FORUM, question.message_id).reply_markup is None


@pytest.mark.parametrize("command", ["/queue", "/moodlog", "/moodstats", "/facts", "/gaps"])
async def test_operator_commands_show_no_customer_data_in_a_customer_group(
    fake: FakeTelegram, database_url: str, command: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late")
        await write_in_group(fake, service, CUSTOMER, "hello")
        before = len(fake.messages(GROUP))
        fake.send_text(GROUP, OPERATOR, command)
        [note] = (await fake.wait_for_messages(GROUP, before + 1, timeout=ANSWER_TIMEOUT))[before:]
        # The same command in the operator's private chat answers as before.
        fake.send_text(OPERATOR, OPERATOR, command)
        await fake.wait_for_messages(OPERATOR, 1, timeout=ANSWER_TIMEOUT)

    assert "Ann" not in note.text and "parcel" not in note.text
    assert "operators' chat" in note.text
    assert fake.photos == [] or all(photo.chat_id != GROUP for photo in fake.photos)
