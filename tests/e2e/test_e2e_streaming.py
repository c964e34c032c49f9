"""How an answer reaches the chat: drafts, placeholder edits, splitting, flood control, outages."""

from __future__ import annotations

import itertools

import pytest

from bench.fake_telegram import FakeTelegram, utf16_len
from engine.mood_engine import MoodEngine
from tests.e2e.support import (
    ANSWER_TIMEOUT,
    ScriptedEngine,
    answers_by_question,
    bot_config,
    emoji_of,
    running,
    wait_for_status,
)

PREVIEW_END = " …"


def assert_growing(previews: list[str], emoji: str) -> None:
    """Streamed previews open with the mood's emoji and each one extends the one before."""
    bodies = [preview.removesuffix(PREVIEW_END) for preview in previews]
    assert all(preview.startswith(emoji) and preview.endswith("…") for preview in previews)
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(bodies))


async def test_private_chat_streams_drafts_then_sends_the_answer(
    fake: FakeTelegram, database_url: str, lively_engine: MoodEngine
) -> None:
    customer = 501
    async with running(bot_config(fake, database_url), lively_engine) as service:
        fake.send_text(customer, customer, "How long does delivery to Lyon take?")
        [(question, answer)] = answers_by_question(
            await wait_for_status(service.database, customer, 1)
        )

    drafts = fake.drafts(customer)
    assert len(drafts) >= 3, fake.dump()
    assert len({draft.draft_id for draft in drafts}) == 1
    assert_growing([draft.text for draft in drafts], emoji_of(question.mood_label))
    [final] = fake.messages(customer)
    assert final.text == answer.text and not final.edits
    assert answer.telegram_message_id == final.message_id
    assert not fake.calls_to("editMessageText")
    typing = [action for action in fake.chat_actions(customer) if action.action == "typing"]
    assert typing and typing[0].at <= drafts[0].at


async def test_group_chat_streams_by_editing_a_placeholder(
    fake: FakeTelegram, database_url: str, lively_engine: MoodEngine
) -> None:
    group = -510
    async with running(bot_config(fake, database_url), lively_engine) as service:
        text, entities = fake.mention_bot("How long does delivery to Lyon take?")
        asked = fake.send_text(group, 511, text, entities=entities)
        [(question, answer)] = answers_by_question(
            await wait_for_status(service.database, group, 1)
        )

    [message] = fake.messages(group)
    assert message.text == answer.text
    assert message.reply_to_message_id == asked
    previews = [revision.text for revision in message.history[:-1]]
    assert len(previews) >= 3, fake.dump()
    assert_growing(previews, emoji_of(question.mood_label))
    assert not fake.calls_to("sendMessageDraft")
    assert [action.action for action in fake.chat_actions(group)][:1] == ["typing"]


async def test_private_chat_falls_back_to_edits_when_drafts_fail(
    fake: FakeTelegram, database_url: str, lively_engine: MoodEngine
) -> None:
    customer = 521
    fake.fail_next(
        "sendMessageDraft", status=400, description="Bad Request: TEXTDRAFT_PEER_INVALID"
    )
    async with running(bot_config(fake, database_url), lively_engine) as service:
        fake.send_text(customer, customer, "Can I pay by bank transfer?")
        [(_, answer)] = answers_by_question(await wait_for_status(service.database, customer, 1))

    # One failed draft is enough: the rest of the answer streams by edits.
    assert [call.status for call in fake.calls_to("sendMessageDraft")] == [400]
    [message] = fake.messages(customer)
    assert message.text == answer.text
    assert len(message.edits) >= 2, fake.dump()


@pytest.mark.parametrize("chat_id", [531, -532], ids=["private", "group"])
@pytest.mark.parametrize(
    "sentence",
    ["This is sentence number {n} of a very long answer.", "Sentence {n} " + "🎉" * 20 + "!"],
    ids=["text", "emoji"],
)
async def test_long_answer_is_split_into_messages_that_fit(
    fake: FakeTelegram, database_url: str, chat_id: int, sentence: str
) -> None:
    reply = " ".join(sentence.format(n=n) for n in range(180))
    # Telegram counts UTF-16 units: the emoji answer is shorter in characters than in units.
    assert utf16_len(reply) > 9000
    engine = ScriptedEngine(reply, mood="positive")
    async with running(bot_config(fake, database_url), engine) as service:
        text, entities = fake.mention_bot("Tell me everything")
        fake.send_text(chat_id, 533 if chat_id < 0 else chat_id, text, entities=entities)
        [(_, answer)] = answers_by_question(await wait_for_status(service.database, chat_id, 1))
        # Every call the answer made (its previews are awaited before it is stored), but not
        # the stop's: stopping abandons the long poll in flight, and the bot's last getUpdates
        # ends it with 409, as Telegram would, an answer nobody reads.
        calls = fake.calls

    full = f"😄 {reply}"
    assert answer.text == full
    shown = fake.messages(chat_id)
    assert len(shown) >= 3
    assert all(utf16_len(message.text) <= 4096 for message in shown)
    assert " ".join(message.text for message in shown) == full
    assert answer.telegram_message_id == shown[-1].message_id
    # Previews too are kept within the limit instead of being sent and refused.
    assert [call for call in calls if call.status != 200] == []


async def test_flood_control_on_drafts_skips_previews_not_the_answer(
    fake: FakeTelegram, database_url: str, lively_engine: MoodEngine
) -> None:
    customer = 541
    fake.fail_next("sendMessageDraft", status=429, retry_after=1)
    async with running(bot_config(fake, database_url), lively_engine) as service:
        fake.send_text(customer, customer, "Where is my order?")
        [(_, answer)] = answers_by_question(await wait_for_status(service.database, customer, 1))

    [final] = fake.messages(customer)
    assert final.text == answer.text
    limited, *later = fake.calls_to("sendMessageDraft")
    assert limited.status == 429
    # Request latency aside, no preview goes out before Telegram's retry_after has passed.
    assert all(call.at - limited.at >= 0.9 for call in later)


async def test_flood_control_on_edits_in_a_group_still_delivers_once(
    fake: FakeTelegram, database_url: str, lively_engine: MoodEngine
) -> None:
    group = -551
    fake.fail_next("editMessageText", times=2, status=429, retry_after=1)
    async with running(bot_config(fake, database_url), lively_engine) as service:
        text, entities = fake.mention_bot("Where is my order?")
        fake.send_text(group, 552, text, entities=entities)
        [(_, answer)] = answers_by_question(await wait_for_status(service.database, group, 1))

    [message] = fake.messages(group)
    assert message.text == answer.text
    assert [call.status for call in fake.calls_to("editMessageText")].count(429) == 2


async def test_flood_control_on_the_final_message_waits_and_delivers_once(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customer = 561
    fake.fail_next("sendMessage", status=429, retry_after=1)
    async with running(bot_config(fake, database_url), tiny_engine) as service:
        fake.send_text(customer, customer, "Where is my order?")
        [(_, answer)] = answers_by_question(await wait_for_status(service.database, customer, 1))

    [final] = fake.messages(customer)
    assert final.text == answer.text
    limited, accepted = fake.calls_to("sendMessage")
    assert (limited.status, accepted.status) == (429, 200)
    assert accepted.at - limited.at >= 0.9


async def test_server_errors_on_the_final_message_are_retried_and_deliver_once(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customer = 571
    fake.fail_next("sendMessage", status=502)
    fake.fail_next("sendMessage", status=500)
    async with running(bot_config(fake, database_url), tiny_engine) as service:
        fake.send_text(customer, customer, "Where is my order?")
        [(_, answer)] = answers_by_question(await wait_for_status(service.database, customer, 1))

    [final] = fake.messages(customer)
    assert final.text == answer.text
    assert [call.status for call in fake.calls_to("sendMessage")] == [502, 500, 200]


async def test_answer_survives_a_telegram_outage_while_it_streams(
    fake: FakeTelegram, database_url: str, lively_engine: MoodEngine
) -> None:
    customer = 581
    async with running(bot_config(fake, database_url), lively_engine) as service:
        fake.send_text(customer, customer, "Where is my order?")
        await fake.wait_for(lambda: fake.drafts(customer), ANSWER_TIMEOUT)
        fake.outage(2.0)
        [(_, answer)] = answers_by_question(await wait_for_status(service.database, customer, 1))

    [final] = fake.messages(customer)
    assert final.text == answer.text
    # However fast the model, the outage hits the answer: its previews, or its final message.
    refused = fake.calls_to("sendMessageDraft") + fake.calls_to("sendMessage")
    assert any(call.status == 502 for call in refused), fake.dump()


@pytest.mark.parametrize("status", [429, 502])
async def test_a_failed_typing_action_does_not_hold_back_the_answer(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine, status: int
) -> None:
    customer = 591
    fake.fail_next("sendChatAction", status=status)
    async with running(bot_config(fake, database_url), tiny_engine) as service:
        fake.send_text(customer, customer, "Where is my order?")
        [(_, answer)] = answers_by_question(await wait_for_status(service.database, customer, 1))

    [final] = fake.messages(customer)
    assert final.text == answer.text
    assert [call.status for call in fake.calls_to("sendChatAction")][:1] == [status]
