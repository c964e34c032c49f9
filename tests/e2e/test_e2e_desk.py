"""The operators' desk on the tiny model: a customer's topic, a takeover, the hand-back."""

from __future__ import annotations

from dataclasses import replace

from bench.fake_telegram import FakeTelegram
from bot.config import DeskConfig, OperatorsConfig
from engine.mood_engine import MoodEngine
from tests.e2e.support import ANSWER_TIMEOUT, bot_config, rows, running, wait_for_status

FORUM = -100_900_100
OPERATOR = 900_101
CUSTOMER = 5_101


async def test_a_takeover_silences_the_model_until_handed_back(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    fake.add_chat(FORUM, "supergroup", title="Desk")
    fake.make_forum(FORUM)
    fake.add_user(OPERATOR, first_name="Olga")
    base = bot_config(fake, database_url, operator_ids=frozenset({OPERATOR}))
    config = replace(
        base,
        operators=OperatorsConfig(chat_id=FORUM, alert_streak=0, alert_confidence=1.0),
        desk=DeskConfig(title_interval=0.0),
    )
    async with running(config, tiny_engine) as service:
        fake.send_text(CUSTOMER, CUSTOMER, "where is my parcel?")
        await wait_for_status(service.database, CUSTOMER, 1)
        await service.operators.channel.drain()
        [topic] = fake.topics(FORUM)
        fake.send_text(
            FORUM, OPERATOR, "It ships today.", message_thread_id=topic.message_thread_id
        )
        await fake.wait_for_messages(CUSTOMER, 2, timeout=ANSWER_TIMEOUT)
        fake.send_text(CUSTOMER, CUSTOMER, "thanks!")
        await wait_for_status(service.database, CUSTOMER, 1, status="human")
        fake.send_text(FORUM, OPERATOR, "/handback", message_thread_id=topic.message_thread_id)
        await fake.wait_for(
            lambda: any("Handed back" in m.text for m in fake.messages(FORUM)), ANSWER_TIMEOUT
        )
        fake.send_text(CUSTOMER, CUSTOMER, "one more question")
        await wait_for_status(service.database, CUSTOMER, 2)
        stored = await rows(service.database, CUSTOMER)
        await service.operators.channel.drain()

    assert [(row.role, row.status) for row in stored] == [
        ("user", "answered"),
        ("assistant", "answered"),
        ("operator", "answered"),
        ("user", "human"),
        ("user", "answered"),
        ("assistant", "answered"),
    ]
    assert fake.messages(CUSTOMER)[1].text == "👤 Support team: It ships today."
    mirrored = [m.text for m in fake.messages(FORUM, thread=topic.message_thread_id)]
    assert mirrored[0].endswith("where is my parcel?") and mirrored[1].startswith("🤖 bot:")
    assert any(text.endswith("thanks!") for text in mirrored)
