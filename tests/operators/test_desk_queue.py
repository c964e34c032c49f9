"""/queue: who waits for a person, most negative and longest waiting first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from bench.fake_telegram import FakeTelegram
from bot.operators.access import REFUSAL
from storage.models import Message
from tests.e2e.support import rows
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER, OPERATOR
from tests.operators.desk_support import (
    FORUM,
    ManualClock,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
)

BO = 100_002
CY = 100_003


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram(Bo=BO, Cy=CY) as server:
        yield server


async def test_the_queue_lists_waiting_conversations_most_negative_first(
    fake: FakeTelegram, database_url: str
) -> None:
    # The store dates the messages by the same clock that /queue reads: Cy asks at 0 min, Bo
    # writes again at 5, Ann at 10, and the operator asks at 17.
    clock = ManualClock()
    config = desk_config(fake, database_url, approve="negative", holding_delay=0)
    async with desk_bot(config, clock) as service:
        # Cy: the bot handed the question off (the knowledge branch flags such messages).
        await converse(fake, service, CY, "what is your warranty?")
        cy_question = (await rows(service.database, CY))[0]
        async with service.database.session() as session, session.begin():
            await session.execute(
                update(Message).where(Message.id == cy_question.id).values(needs_human=True)
            )
        # Bo: taken over, then Bo writes again and nobody has answered yet.
        await converse(fake, service, BO, "hello")
        await service.operators.channel.drain()
        bo_topic = fake.topics(FORUM)[-1].message_thread_id
        fake.send_text(FORUM, OPERATOR, "Olga here.", message_thread_id=bo_topic)
        await fake.wait_for_messages(BO, 2, timeout=ANSWER_TIMEOUT)
        clock.advance(minutes=5)
        await converse(fake, service, BO, "meh still not working")
        # Ann: a reply waits for approval.
        clock.advance(minutes=5)
        fake.send_text(CUSTOMER, CUSTOMER, "sad my parcel is lost")
        await fake.wait_for(
            lambda: [m for m in fake.messages(FORUM) if m.text.startswith("📝 Draft")],
            ANSWER_TIMEOUT,
        )
        clock.advance(minutes=7)
        await service.operators.channel.drain()
        before = len(fake.messages(OPERATOR))
        fake.send_text(OPERATOR, OPERATOR, "/queue")
        [queue] = (await fake.wait_for_messages(OPERATOR, before + 1, timeout=ANSWER_TIMEOUT))[
            before:
        ]
        fake.send_text(CUSTOMER, CUSTOMER, "/queue")
        refusal = await fake.wait_for(
            lambda: [m for m in fake.messages(CUSTOMER) if m.text == REFUSAL["en"]],
            ANSWER_TIMEOUT,
        )

    lines = queue.text.splitlines()
    assert lines[0] == "Waiting for a person: 3", queue.text
    numbered = [line for line in lines if line[:2] in ("1.", "2.", "3.")]
    assert numbered[0].startswith("1. 😢 97% Ann (@ann, 100001) · approval · waiting 7 min")
    assert numbered[1].startswith("2. 😢 60% Bo (100002) · taken over · waiting 12 min")
    assert numbered[2].startswith("3. 😐 55% Cy (100003) · handed off · waiting 17 min")
    ann_topic = fake.topics(FORUM)[-1].message_thread_id
    assert f"https://t.me/c/900001/{ann_topic}" in queue.text, queue.text
    assert refusal
