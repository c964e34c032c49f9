"""The bot's commands: the menu, /start, /help, /mood, /reset's sibling /forget, and /cancel."""

from __future__ import annotations

import pytest

from bench.fake_telegram import BotMessage, FakeTelegram
from bot.service import BotService
from bot.texts import COMMAND_MENU, text
from engine.mood_engine import MoodEngine
from tests.e2e.support import (
    ANSWER_TIMEOUT,
    answers_by_question,
    bot_config,
    customer_count,
    emoji_of,
    generation_is_idle,
    rows,
    running,
    wait_for_async,
    wait_for_status,
)

CANCELLED_REASON = "cancelled by the customer"


async def test_command_menu_is_registered_in_english_and_chinese(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    names = ["start", "help", "reset", "cancel", "mood", "forget"]
    commands = fake.commands
    assert set(commands) == {("default", ""), ("default", "zh")}
    assert [c["command"] for c in commands[("default", "")]] == names
    assert [c["command"] for c in commands[("default", "zh")]] == names
    assert [c["description"] for c in commands[("default", "zh")]] == [
        description for _, description in COMMAND_MENU["zh"]
    ]


@pytest.mark.parametrize(
    ("language_code", "language"), [("en", "en"), ("zh-hans", "zh")], ids=["en", "zh"]
)
async def test_start_and_help_speak_the_customers_language(
    fake: FakeTelegram, running_bot: BotService, language_code: str, language: str
) -> None:
    fake.add_user(611, first_name="Ann", language_code=language_code)
    fake.send_text(611, 611, "/start")
    fake.send_text(611, 611, "/help")
    welcome, help_text = await fake.wait_for_messages(611, 2, timeout=ANSWER_TIMEOUT)
    assert welcome.text == text("start", language, name="Ann")  # type: ignore[arg-type]
    assert help_text.text == text("help", language)  # type: ignore[arg-type]
    # Commands are not customer messages: nothing to tag or store.
    assert await rows(running_bot.database) == []


@pytest.mark.parametrize("command", ["/help", "/help@moodbot_test_bot"])
async def test_commands_work_in_groups(
    fake: FakeTelegram, running_bot: BotService, command: str
) -> None:
    fake.send_text(-615, 616, command)
    [reply] = await fake.wait_for_messages(-615, 1, timeout=ANSWER_TIMEOUT)
    assert reply.text == text("help", "en")


async def test_mood_lists_the_customers_recent_moods_newest_first(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    customer = 621
    fake.send_text(customer, customer, "/mood")
    [empty] = await fake.wait_for_messages(customer, 1, timeout=ANSWER_TIMEOUT)
    assert empty.text == text("mood_empty", "en")

    for body in ("the parcel came today", "but the box was damaged", "/mood"):
        fake.send_text(customer, customer, body)
    messages = await fake.wait_for_messages(customer, 4, timeout=ANSWER_TIMEOUT)
    first, second = [q for q, _ in answers_by_question(await rows(running_bot.database))]
    header, newest, oldest = messages[3].text.split("\n")
    assert header == text("mood_header", "en")
    assert newest.startswith(emoji_of(second.mood_label) + " ")
    assert newest.endswith("· but the box was damaged")
    assert oldest.startswith(emoji_of(first.mood_label) + " ")
    assert oldest.endswith("· the parcel came today")


async def ask_to_forget(fake: FakeTelegram, chat_id: int, user_id: int, command: str) -> BotMessage:
    """Send /forget and return the bot's confirmation message with its buttons."""
    before = len(fake.messages(chat_id))
    fake.send_text(chat_id, user_id, command)
    messages = await fake.wait_for_messages(chat_id, before + 1, timeout=ANSWER_TIMEOUT)
    confirm = messages[-1]
    assert confirm.text == text("forget_confirm", "en")
    return confirm


def buttons(message: BotMessage) -> list[str]:
    rows_ = (message.reply_markup or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows_ for button in row]


async def talk(fake: FakeTelegram, bot: BotService, chat_id: int, user_id: int, count: int) -> None:
    """The customer writes `count` messages (mentioning the bot) and gets them answered."""
    for n in range(count):
        body, entities = fake.mention_bot(f"message {n} from {user_id}")
        fake.send_text(chat_id, user_id, body, entities=entities)

    async def answered() -> bool:
        mine = [row for row in await rows(bot.database, chat_id) if row.customer_id == user_id]
        return len(mine) == 2 * count and all(row.status == "answered" for row in mine)

    await wait_for_async(answered, what=f"{count} answers to customer {user_id}")


async def test_forget_deletes_everything_after_confirmation(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    customer = 631
    await talk(fake, running_bot, customer, customer, 2)
    confirm = await ask_to_forget(fake, customer, customer, "/forget")
    assert buttons(confirm) == [f"forget:yes:{customer}", f"forget:no:{customer}"]

    query = fake.press_button(customer, customer, confirm.message_id, f"forget:yes:{customer}")
    done = text("forget_done", "en", count=4)
    await fake.wait_for(lambda: fake.message(customer, confirm.message_id).text == done)
    assert query in [answer.callback_query_id for answer in fake.callback_answers]
    assert not buttons(fake.message(customer, confirm.message_id))
    assert await rows(running_bot.database) == []
    assert await customer_count(running_bot.database, customer) == 0
    assert await running_bot.store.recent_moods(customer) == []


async def test_forget_declined_keeps_everything(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    customer = 632
    await talk(fake, running_bot, customer, customer, 1)
    confirm = await ask_to_forget(fake, customer, customer, "/forget")

    fake.press_button(customer, customer, confirm.message_id, f"forget:no:{customer}")
    kept = text("forget_kept", "en")
    await fake.wait_for(lambda: fake.message(customer, confirm.message_id).text == kept)
    assert not buttons(fake.message(customer, confirm.message_id))
    assert len(await rows(running_bot.database, customer)) == 2
    assert await customer_count(running_bot.database, customer) == 1


async def test_only_the_customer_who_asked_can_confirm_forgetting(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    group, ann, bob = -640, 641, 642
    await talk(fake, running_bot, group, ann, 1)
    await talk(fake, running_bot, group, bob, 1)
    confirm = await ask_to_forget(fake, group, ann, "/forget@moodbot_test_bot")

    query = fake.press_button(group, bob, confirm.message_id, f"forget:yes:{ann}")
    await fake.wait_for(lambda: query in [a.callback_query_id for a in fake.callback_answers])
    assert fake.message(group, confirm.message_id).text == confirm.text
    assert await customer_count(running_bot.database, ann) == 1

    fake.press_button(group, ann, confirm.message_id, f"forget:yes:{ann}")
    done = text("forget_done", "en", count=2)
    await fake.wait_for(lambda: fake.message(group, confirm.message_id).text == done)
    remaining = await rows(running_bot.database, group)
    assert {row.customer_id for row in remaining} == {bob}
    assert len(remaining) == 2
    assert await customer_count(running_bot.database, ann) == 0


async def test_cancel_without_an_answer_in_progress(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    fake.send_text(651, 651, "/cancel")
    [reply] = await fake.wait_for_messages(651, 1, timeout=ANSWER_TIMEOUT)
    assert reply.text == text("nothing_to_cancel", "en")


@pytest.mark.parametrize("chat_id", [661, -662], ids=["private", "group"])
async def test_cancel_stops_the_answer_in_progress(
    fake: FakeTelegram, database_url: str, endless_engine: MoodEngine, chat_id: int
) -> None:
    customer = 663 if chat_id < 0 else chat_id
    async with running(bot_config(fake, database_url), endless_engine) as service:
        body, entities = fake.mention_bot("Tell me a long story")
        fake.send_text(chat_id, customer, body, entities=entities)

        # The answer is streaming once a draft or the group's placeholder shows.
        await fake.wait_for(lambda: fake.drafts(chat_id) or fake.messages(chat_id), ANSWER_TIMEOUT)
        fake.send_text(chat_id, customer, "/cancel" if chat_id > 0 else "/cancel@moodbot_test_bot")
        [question] = await wait_for_status(service.database, chat_id, 1, status="failed")
        # The model stopped writing at once, not after thousands of tokens.
        assert await generation_is_idle(endless_engine)

        assert question.failure_reason == CANCELLED_REASON
        # The note and the placeholder's removal may trail the database by a moment; then the
        # cancellation note is all the chat keeps: no answer, not even half of one.
        note = [text("cancelled", "en")]
        await fake.wait_for(lambda: [message.text for message in fake.messages(chat_id)] == note)


async def test_cancel_in_a_group_stops_only_the_senders_own_answer(
    fake: FakeTelegram, database_url: str, endless_engine: MoodEngine
) -> None:
    group, ann, bob = -671, 672, 673
    async with running(bot_config(fake, database_url), endless_engine) as service:
        body, entities = fake.mention_bot("Tell me a long story")
        fake.send_text(group, ann, body, entities=entities)
        [placeholder] = await fake.wait_for_messages(group, 1, timeout=ANSWER_TIMEOUT)
        fake.send_text(group, bob, "/cancel@moodbot_test_bot")
        await fake.wait_for_messages(group, 2, timeout=ANSWER_TIMEOUT)
        assert fake.messages(group)[-1].text == text("nothing_to_cancel", "en")
        assert [row.status for row in await rows(service.database, group)] == ["pending"]

        fake.send_text(group, ann, "/cancel@moodbot_test_bot")
        [question] = await wait_for_status(service.database, group, 1, status="failed")
        assert question.failure_reason == CANCELLED_REASON
        await fake.wait_for(
            lambda: placeholder.message_id not in [m.message_id for m in fake.messages(group)]
        )


async def test_an_unknown_command_points_to_help_and_is_not_stored(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    fake.add_user(671, language_code="zh-hans")
    fake.send_text(671, 671, "/refund now")
    [note] = await fake.wait_for_messages(671, 1, timeout=ANSWER_TIMEOUT)
    assert note.text == text("unknown_command", "zh")
    # In a group, another bot's command is none of this bot's business; its own is answered.
    fake.send_text(-672, 673, "/refund@some_other_bot")
    fake.send_text(-672, 673, "/refund@moodbot_test_bot")
    [group_note] = await fake.wait_for_messages(-672, 1, timeout=ANSWER_TIMEOUT)
    assert group_note.text == text("unknown_command", "en")
    assert await rows(running_bot.database) == []
    assert len(fake.messages(-672)) == 1
