"""What customers send that is not a plain question: media, invisible text, edits, strangers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.fake_telegram import FakeTelegram
from bot.service import BotService
from bot.texts import text
from engine.mood_engine import MoodEngine
from tests.e2e.support import (
    ANSWER_TIMEOUT,
    SpyEngine,
    answers_by_question,
    bot_config,
    customer_count,
    rows,
    running,
    wait_for_status,
)

MEDIA: dict[str, Callable[[FakeTelegram, int], int]] = {
    "sticker": lambda fake, user: fake.send_sticker(user, user),
    "photo": lambda fake, user: fake.send_photo(user, user),
    "photo with caption": lambda fake, user: fake.send_photo(user, user, caption="broken, see?"),
    "voice": lambda fake, user: fake.send_voice(user, user),
    "location": lambda fake, user: fake.send_location(user, user, 48.85, 2.35),
}


@pytest.mark.parametrize("kind", list(MEDIA))
async def test_non_text_messages_get_the_only_text_note(
    fake: FakeTelegram, running_bot: BotService, kind: str
) -> None:
    customer = 701
    MEDIA[kind](fake, customer)
    [note] = await fake.wait_for_messages(customer, 1, timeout=ANSWER_TIMEOUT)
    assert note.text == text("not_text", "en")
    assert await rows(running_bot.database) == []


@pytest.mark.parametrize(
    ("chat_id", "body"),
    [
        (711, "\u200b\u200c\u2060\ufeff"),
        (711, "\u200e\x00\x07\u202e"),
        (-712, "@moodbot_test_bot \u200b"),
    ],
    ids=["zero-width", "controls", "bare mention"],
)
async def test_text_that_is_empty_once_cleaned_gets_the_empty_note(
    fake: FakeTelegram, running_bot: BotService, chat_id: int, body: str
) -> None:
    fake.send_text(chat_id, 713 if chat_id < 0 else chat_id, body)
    [note] = await fake.wait_for_messages(chat_id, 1, timeout=ANSWER_TIMEOUT)
    assert note.text == text("empty", "en")
    assert await rows(running_bot.database) == []


async def test_control_characters_are_stripped_before_anything_is_stored(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customer = 721
    spy = SpyEngine(tiny_engine)
    async with running(bot_config(fake, database_url), spy) as service:
        fake.send_text(customer, customer, "Order\x00 42\x07 is\u202e late\r\nplease\u200b help")
        [(question, _)] = answers_by_question(await wait_for_status(service.database, customer, 1))

    assert question.text == "Order 42 is late\nplease help"
    assert [call.text for call in spy.calls] == [question.text]


async def test_edits_and_channel_posts_are_not_answered(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    customer, channel = 731, -1001731
    first = fake.send_text(customer, customer, "my parcel is late")
    await wait_for_status(running_bot.database, customer, 1)
    fake.channel_post(channel, "New arrivals this week!")
    fake.send_edit(customer, first, "my parcel is very late")
    # The chat's updates are handled in order: once this is answered, the edit was handled.
    fake.send_text(customer, customer, "any news?")
    chat_rows = await wait_for_status(running_bot.database, customer, 2)

    assert [q.text for q, _ in answers_by_question(chat_rows)] == ["my parcel is late", "any news?"]
    assert len(fake.messages(customer)) == 2
    assert fake.messages(channel) == []
    # Every update was fetched and confirmed, the channel post included.
    await fake.wait_for(lambda: not fake.pending_updates())


async def test_customers_not_on_the_allow_list_are_refused_and_not_stored(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    member, stranger, group = 741, 742, -743
    config = bot_config(fake, database_url, allowed_user_ids=frozenset({member}))
    async with running(config, tiny_engine) as service:
        fake.send_text(stranger, stranger, "hello, I need help")
        fake.send_text(stranger, stranger, "/mood")
        body, entities = fake.mention_bot("hello from a stranger")
        fake.send_text(group, stranger, body, entities=entities)
        body, entities = fake.mention_bot("hello from a member")
        fake.send_text(group, member, body, entities=entities)
        group_rows = await wait_for_status(service.database, group, 1)
        refusals = await fake.wait_for_messages(stranger, 2, timeout=ANSWER_TIMEOUT)

        refusal = text("not_allowed", "en")
        assert [message.text for message in refusals] == [refusal, refusal]
        group_messages = fake.messages(group)
        assert group_messages[0].text == refusal
        assert [q.customer_id for q, _ in answers_by_question(group_rows)] == [member]
        assert len(group_messages) == 2
        assert await rows(service.database, stranger) == []
        assert await customer_count(service.database, stranger) == 0
