"""Intents in the operators' reports through the fake Telegram server: /moodlog filters by a
configured intent and pages with it, /moodstats and the daily digest count the messages and
the negative share per intent beside the moods, and say nothing of intents without any."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest

from bench.fake_telegram import FakeTelegram
from bot.config import OperatorsConfig
from bot.service import BotService
from engine.config import DEFAULT_INTENTS
from storage import CustomerInfo, Store
from tests.mood_log_seed import tagged
from tests.operators.bot_support import (
    ANSWER_TIMEOUT,
    CUSTOMER,
    NOW,
    OPERATOR,
    operator_config,
    running_bot,
)
from tests.operators.test_operator_telegram import reply_to

ANN = CustomerInfo(id=CUSTOMER, name="Ann", username="ann_k")
BO = CustomerInfo(id=100_002, name="波", language="zh")
# The bot's configuration keeps the default intents.
INTENTS = tuple(DEFAULT_INTENTS)


@pytest.fixture
async def bot(fake: FakeTelegram, database_url: str) -> AsyncIterator[BotService]:
    async with running_bot(operator_config(fake, database_url)) as service:
        yield service


async def test_moodlog_filters_by_intent_and_pages_with_it(
    fake: FakeTelegram, bot: BotService
) -> None:
    store = Store(bot.database)
    for n in range(12):
        await tagged(
            bot.database,
            ANN,
            f"refund {n}",
            "negative",
            0.9,
            NOW - timedelta(minutes=60 - n),
            intent=("returns", 0.8),
        )
    moved = await tagged(
        bot.database, BO, "退货", "neutral", 0.6, NOW - timedelta(minutes=5), intent=("other", 0.5)
    )
    await store.correct_intent(moved.id, "returns", OPERATOR)
    await tagged(
        bot.database,
        ANN,
        "parcel?",
        "neutral",
        0.6,
        NOW - timedelta(minutes=4),
        intent=("shipping", 0.7),
    )
    await tagged(bot.database, ANN, "no intent", "negative", 0.9, NOW - timedelta(minutes=3))

    [first] = await reply_to(fake, OPERATOR, "/moodlog Returns 24h")

    lines = first.text.splitlines()
    assert lines[0].startswith("Mood log · 🏷 returns · since ")
    assert lines[1].startswith("13 messages, page 1 of 2, newest first")
    assert lines[1].endswith("; 🏷 = what the customer wants)")
    assert " · 😐 60% · 🏷 other 50% → ✍️ returns · 退货" in lines[3]
    assert lines[4].endswith(" · 😢 90% · 🏷 returns 80% · refund 11")
    [[older]] = first.reply_markup["inline_keyboard"]  # type: ignore[index]

    fake.press_button(OPERATOR, OPERATOR, first.message_id, older["callback_data"])
    second = await fake.wait_for(
        lambda: (m := fake.message(OPERATOR, first.message_id)).edits and m, ANSWER_TIMEOUT
    )
    assert second.text.splitlines()[0] == lines[0], "the page keeps the listing's intent"
    assert "13 messages, page 2 of 2" in second.text
    assert [line.rsplit(" · ", 1)[1] for line in second.text.splitlines()[3:]] == [
        "refund 2",
        "refund 1",
        "refund 0",
    ]


async def test_moodlog_refuses_a_word_that_names_no_intent(
    fake: FakeTelegram, bot: BotService
) -> None:
    [answer] = await reply_to(fake, OPERATOR, "/moodlog refunds")

    message, usage = answer.text.splitlines()
    assert message == "I don't understand 'refunds'."
    assert usage.startswith("Usage: /moodlog [negative|positive|neutral]")
    assert usage.endswith(f"[{'|'.join(INTENTS)}]")


async def test_moodstats_adds_messages_and_negative_share_per_intent(
    fake: FakeTelegram, bot: BotService
) -> None:
    store = Store(bot.database)
    for label in ("negative", "negative", "positive"):
        await tagged(
            bot.database,
            ANN,
            "refund",
            label,
            0.9,
            NOW - timedelta(hours=1),
            intent=("returns", 0.8),
        )
    where = await tagged(
        bot.database,
        BO,
        "到哪了",
        "negative",
        0.9,
        NOW - timedelta(days=2),
        intent=("shipping", 0.7),
    )
    await store.correct_intent(where.id, "order_status", OPERATOR)
    await tagged(bot.database, ANN, "before triage", "neutral", 0.6, NOW - timedelta(hours=2))
    await tagged(
        bot.database,
        ANN,
        "too old",
        "negative",
        0.9,
        NOW - timedelta(days=8),
        intent=("payment", 0.9),
    )

    chart, numbers = await reply_to(fake, OPERATOR, "/moodstats 7d", count=2)

    [photo] = fake.photos
    assert photo.message_id == chart.message_id and photo.data is not None
    # The intents' chart stands beside the moods' (900 pixels wide alone).
    assert matplotlib.image.imread(io.BytesIO(photo.data), format="png").shape[:2] == (480, 1400)
    assert photo.caption.splitlines()[1] == "5 messages: 😄 1 · 😐 1 · 😢 3 · 60% negative"
    days, intents, satisfaction = numbers.text.split("\n\n")
    assert len(days.splitlines()) == 7
    assert intents.splitlines() == [
        "By intent (what customers wanted):",
        "returns: 3 messages, 67% negative",
        "order_status: 1 message, 100% negative",
    ]
    assert satisfaction.startswith("Satisfaction: ")


async def test_moodstats_without_intents_says_nothing_of_them(
    fake: FakeTelegram, bot: BotService
) -> None:
    await tagged(bot.database, ANN, "sad", "negative", 0.9, NOW - timedelta(hours=1))

    _, numbers = await reply_to(fake, OPERATOR, "/moodstats 7d", count=2)

    [photo] = fake.photos
    assert photo.data is not None
    assert matplotlib.image.imread(io.BytesIO(photo.data), format="png").shape[:2] == (480, 900)
    assert "intent" not in numbers.text
    assert len(numbers.text.split("\n\n")) == 2


async def test_the_digest_counts_yesterdays_intents(fake: FakeTelegram, database_url: str) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    settings = OperatorsConfig(chat_id=OPERATOR, digest_time=time(8, 30), timezone=shanghai.key)
    now = datetime(2024, 5, 8, 1, 0, tzinfo=shanghai)
    yesterday = datetime(2024, 5, 7, 12, 0, tzinfo=shanghai)
    async with running_bot(operator_config(fake, database_url, settings)) as service:
        database = service.database
        for label in ("negative", "positive"):
            await tagged(database, ANN, "refund", label, 0.9, yesterday, intent=("returns", 0.8))
        await tagged(database, BO, "付款", "negative", 0.9, yesterday, intent=("payment", 0.8))
        await tagged(database, BO, "no intent", "negative", 0.9, yesterday)
        # In the week's chart, not in yesterday's lines.
        await tagged(
            database,
            ANN,
            "earlier",
            "neutral",
            0.6,
            yesterday - timedelta(days=2),
            intent=("other", 0.6),
        )
        await tagged(database, ANN, "today", "negative", 0.9, now, intent=("shipping", 0.8))

        await service.operators.digest.send(service.app.bot, now)
        text, chart = await fake.wait_for_messages(OPERATOR, 2, timeout=ANSWER_TIMEOUT)

    lines = text.text.splitlines()
    assert lines[:6] == [
        "📊 Mood digest for Tue 2024-05-07 (Asia/Shanghai)",
        "4 messages: 😄 1 · 😐 0 · 😢 3 · 75% negative",
        "",
        "By intent (what customers wanted):",
        "returns: 2 messages, 50% negative",
        "payment: 1 message, 100% negative",
    ]
    assert lines[6:8] == ["", "Customers with the most negative messages:"]
    [photo] = fake.photos
    assert chart.kind == "photo" and photo.data is not None
    assert matplotlib.image.imread(io.BytesIO(photo.data), format="png").shape[:2] == (480, 1400)


async def test_a_digest_without_intents_reads_as_before(
    fake: FakeTelegram, database_url: str
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    settings = OperatorsConfig(chat_id=OPERATOR, timezone=shanghai.key)
    now = datetime(2024, 5, 8, 1, 0, tzinfo=shanghai)
    async with running_bot(operator_config(fake, database_url, settings)) as service:
        await tagged(service.database, ANN, "sad", "negative", 0.9, now - timedelta(hours=13))
        # Today's intent is not yesterday's, nor in the week up to yesterday.
        await tagged(service.database, ANN, "refund", "negative", 0.9, now, intent=("returns", 0.8))
        await service.operators.digest.send(service.app.bot, now)
        text, _ = await fake.wait_for_messages(OPERATOR, 2, timeout=ANSWER_TIMEOUT)

    assert "intent" not in text.text
    [photo] = fake.photos
    assert photo.data is not None
    assert matplotlib.image.imread(io.BytesIO(photo.data), format="png").shape[:2] == (480, 900)
