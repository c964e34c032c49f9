"""A topic per customer in the operators' forum: created once, mirroring the conversation in
order, titled with mood and trend, recreated when deleted; alerts without a forum."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench.fake_telegram import BotMessage, FakeTelegram
from storage.desk import DeskStore
from storage.mood_log import MoodFilter, MoodLog
from tests.e2e.support import rows, wait_for_async, wait_for_status
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER, OPERATOR, KeywordEngine
from tests.operators.desk_support import (
    FORUM,
    REPLY,
    ManualClock,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
    topic_posts,
)

OTHER_CUSTOMER = 100_002


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram(Bo=OTHER_CUSTOMER) as server:
        yield server


async def test_each_customer_gets_one_topic_that_mirrors_the_conversation_in_order(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late", "glad it came")
        await converse(fake, service, OTHER_CUSTOMER, "hello")
        await service.operators.channel.drain()
        ann, bo = fake.topics(FORUM)
        ann_posts = await topic_posts(fake, service, 4, ann.message_thread_id)
        bo_posts = await topic_posts(fake, service, 2, bo.message_thread_id)

    assert len(fake.calls_to("createForumTopic")) == 2
    assert [post.text for post in ann_posts] == [
        "😢 97% · customer:\nsad my parcel is late",
        f"🤖 bot:\n😢 {REPLY}",
        "😄 92% · customer:\nglad it came",
        f"🤖 bot:\n😄 {REPLY}",
    ]
    assert [post.text for post in bo_posts] == [
        "😐 55% · customer:\nhello",
        f"🤖 bot:\n😐 {REPLY}",
    ]
    assert ann.names[0].endswith("Ann (@ann)") and bo.names[0].endswith("Bo")


async def test_the_title_follows_the_mood_trend(fake: FakeTelegram, database_url: str) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(
            fake, service, CUSTOMER, "glad to be here", "meh it broke", "sad still", "sad no"
        )
        await topic_posts(fake, service, 8)
        trend_held = fake.topics(FORUM)[0].names
        await converse(fake, service, CUSTOMER, "sad nothing works")
        await topic_posts(fake, service, 10)
        await converse(fake, service, CUSTOMER, "glad it works now")
        await topic_posts(fake, service, 12)

    assert trend_held == ["😄 Ann (@ann)", "😢↘ Ann (@ann)"]
    assert fake.topics(FORUM)[0].names == [
        "😄 Ann (@ann)",
        "😢↘ Ann (@ann)",
        "😢→ Ann (@ann)",
        "😄↗ Ann (@ann)",
    ]


async def test_title_edits_are_rate_limited(fake: FakeTelegram, database_url: str) -> None:
    clock = ManualClock()
    config = desk_config(fake, database_url, title_interval=600.0)
    async with desk_bot(config, clock) as service:
        await converse(fake, service, CUSTOMER, "glad to be here", "sad it broke")
        await topic_posts(fake, service, 4)
        held = fake.topics(FORUM)[0].names
        clock.advance(minutes=11)
        await converse(fake, service, CUSTOMER, "sad it broke", "sad still")
        await topic_posts(fake, service, 8)

    assert held == ["😄 Ann (@ann)"]
    assert fake.topics(FORUM)[0].names == ["😄 Ann (@ann)", "😢↘ Ann (@ann)"]


async def test_a_topic_deleted_by_hand_is_recreated(fake: FakeTelegram, database_url: str) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "hello")
        [first] = fake.topics(FORUM)
        await topic_posts(fake, service, 2)
        fake.delete_topic(FORUM, first.message_thread_id)
        fake.send_text(CUSTOMER, CUSTOMER, "are you there?")
        await wait_for_status(service.database, CUSTOMER, 2)
        await service.operators.channel.drain()
        [second] = fake.topics(FORUM)
        posts = await topic_posts(fake, service, 2, second.message_thread_id)
        stored = await DeskStore(service.database).topic(FORUM, CUSTOMER)

    assert second.message_thread_id != first.message_thread_id
    assert stored is not None and stored.thread_id == second.message_thread_id
    assert [post.text.splitlines()[-1] for post in posts] == ["are you there?", f"😐 {REPLY}"]


async def test_without_a_forum_alerts_go_to_the_chat_and_a_reply_reaches_the_customer(
    fake: FakeTelegram, database_url: str
) -> None:
    group = -100_900_002
    fake.add_chat(group, "supergroup", title="Ops (no topics)")
    config = desk_config(fake, database_url, chat_id=group, alert_confidence=0.9)
    async with desk_bot(config, ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late")
        [alert] = await fake.wait_for_messages(group, 1, timeout=ANSWER_TIMEOUT)
        fake.send_text(group, OPERATOR, "We are on it, Ann.", reply_to_message_id=alert.message_id)
        delivered = await fake.wait_for_messages(CUSTOMER, 2, timeout=ANSWER_TIMEOUT)

        # The desk stores the operator's message once Telegram has delivered it.
        async def operator_row() -> tuple[str, str] | None:
            last = (await rows(service.database, CUSTOMER))[-1]
            return (last.role, last.text) if last.role == "operator" else None

        stored = await wait_for_async(operator_row, what="the operator's message to be stored")

    assert fake.topics(group) == [] and "Mood alert" in alert.text
    assert delivered[-1].text == "👤 Support team: We are on it, Ann."
    assert stored == ("operator", "We are on it, Ann.")
    assert len(fake.messages(CUSTOMER)) == 2


async def test_complaint_keywords_reach_the_topic_its_title_and_the_mood_log(
    fake: FakeTelegram, database_url: str
) -> None:
    config = desk_config(fake, database_url)
    async with desk_bot(config, ManualClock(), KeywordEngine()) as service:
        await converse(fake, service, CUSTOMER, "sad parcel late again", "glad hello there")
        posts = await fake.wait_for(
            lambda: [m for m in fake.messages(FORUM) if m.text.startswith("🔑")], ANSWER_TIMEOUT
        )
        await service.operators.channel.drain()
        entries = await MoodLog(service.database).entries(MoodFilter())
        [log_page] = await operator_says(fake, "/moodlog")

    assert posts[0].text == "🔑 About: parcel, late"
    assert "😢 Ann (@ann) · parcel, late" in fake.topics(FORUM)[0].names
    assert [entry.keywords for entry in entries] == [(), ("parcel", "late")]
    assert "🔑 parcel, late" in log_page.text


async def operator_says(fake: FakeTelegram, command: str) -> list[BotMessage]:
    before = len(fake.messages(OPERATOR))
    fake.send_text(OPERATOR, OPERATOR, command)
    found = await fake.wait_for_messages(OPERATOR, before + 1, timeout=ANSWER_TIMEOUT)
    return found[before:]


async def test_an_alert_says_what_the_complaint_is_about(
    fake: FakeTelegram, database_url: str
) -> None:
    group = -100_900_003
    fake.add_chat(group, "supergroup", title="Ops (no topics)")
    config = desk_config(fake, database_url, chat_id=group, alert_confidence=0.9)
    async with desk_bot(config, ManualClock(), KeywordEngine()) as service:
        await converse(fake, service, CUSTOMER, "sad refund missing since May")
        [alert] = await fake.wait_for_messages(group, 1, timeout=ANSWER_TIMEOUT)

    assert "🔑 About: refund, missing" in alert.text.splitlines()
