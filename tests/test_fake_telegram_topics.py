"""The fake Bot API's forum topics, as python-telegram-bot's real Bot sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bench.fake_telegram import FakeTelegram

FORUM = -100700
OPERATOR = 42


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.add_chat(FORUM, "supergroup", title="Support desk")
        server.make_forum(FORUM)
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as client:
        yield client


async def test_created_topic_takes_messages_and_chat_actions(fake: FakeTelegram, bot: Bot) -> None:
    topic = await bot.create_forum_topic(FORUM, "Ann (@ann)")
    sent = await bot.send_message(FORUM, "hello", message_thread_id=topic.message_thread_id)
    await bot.send_chat_action(FORUM, "typing", message_thread_id=topic.message_thread_id)

    assert topic.name == "Ann (@ann)"
    assert sent.message_thread_id == topic.message_thread_id and sent.is_topic_message
    [recorded] = fake.messages(FORUM, thread=topic.message_thread_id)
    assert recorded.text == "hello"
    assert fake.chat_actions(FORUM)[-1].message_thread_id == topic.message_thread_id
    assert [t.name for t in fake.topics(FORUM)] == ["Ann (@ann)"]


async def test_edited_topic_keeps_its_names_and_refuses_the_same_name(
    fake: FakeTelegram, bot: Bot
) -> None:
    topic = await bot.create_forum_topic(FORUM, "Ann")
    await bot.edit_forum_topic(FORUM, topic.message_thread_id, name="😢↘ Ann")

    with pytest.raises(BadRequest, match=r"(?i)topic_not_modified"):
        await bot.edit_forum_topic(FORUM, topic.message_thread_id, name="😢↘ Ann")
    assert fake.topics(FORUM)[0].names == ["Ann", "😢↘ Ann"]


async def test_topics_need_a_forum_and_the_manage_topics_right(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.add_chat(-100701, "supergroup")
    with pytest.raises(BadRequest, match=r"(?i)not a forum"):
        await bot.create_forum_topic(-100701, "Ann")
    fake.make_forum(FORUM, bot_manages_topics=False)
    with pytest.raises(BadRequest, match=r"(?i)not enough rights"):
        await bot.create_forum_topic(FORUM, "Ann")
    with pytest.raises(BadRequest, match=r"(?i)topic_title_empty"):
        fake.make_forum(FORUM)
        await bot.create_forum_topic(FORUM, " ")


async def test_a_topic_deleted_by_hand_refuses_messages_and_edits(
    fake: FakeTelegram, bot: Bot
) -> None:
    topic = await bot.create_forum_topic(FORUM, "Ann")
    await bot.send_message(FORUM, "hello", message_thread_id=topic.message_thread_id)
    fake.delete_topic(FORUM, topic.message_thread_id)

    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(FORUM, "again", message_thread_id=topic.message_thread_id)
    with pytest.raises(BadRequest, match=r"(?i)topic_id_invalid"):
        await bot.edit_forum_topic(FORUM, topic.message_thread_id, name="Ann 2")
    assert fake.messages(FORUM) == []
    assert fake.topics(FORUM) == []


async def test_a_message_in_a_topic_carries_its_thread_and_replies_to_the_opening(
    fake: FakeTelegram, bot: Bot
) -> None:
    topic = await bot.create_forum_topic(FORUM, "Ann")
    fake.send_text(FORUM, OPERATOR, "I'll take this one", message_thread_id=topic.message_thread_id)

    [update] = [Update.de_json(raw, bot) for raw in fake.pending_updates()]
    message = update.effective_message
    assert message is not None
    assert message.message_thread_id == topic.message_thread_id and message.is_topic_message
    assert message.reply_to_message is not None
    assert message.reply_to_message.forum_topic_created is not None
    assert message.reply_to_message.from_user is not None
    assert message.reply_to_message.from_user.id == bot.id


async def test_a_keyboard_can_be_taken_off_a_message(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(
        FORUM,
        "pick",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="a")]]),
    )
    await sent.edit_reply_markup(None)

    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await sent.edit_reply_markup(None)
    assert fake.message(FORUM, sent.message_id).reply_markup is None
