"""Conversations: many customers at once, groups, and what each answer is based on."""

from __future__ import annotations

from bench.fake_telegram import FakeTelegram
from bot.pipeline import strip_mood_emoji
from engine.mood_engine import MoodEngine
from engine.types import Turn
from engine.vocabulary import MOOD_LABELS, MoodLabel
from tests.e2e.support import (
    ANSWER_TIMEOUT,
    Row,
    SpyEngine,
    answers_by_question,
    bot_config,
    emoji_of,
    rows,
    running,
    wait_for_status,
)


def expected_history(pairs: list[tuple[Row, Row]]) -> tuple[Turn, ...]:
    """The turns the model should see: the customer's earlier messages and our answers."""
    turns: list[Turn] = []
    for question, answer in pairs:
        turns += [
            Turn("user", question.text, question.mood_label),
            Turn("assistant", strip_mood_emoji(answer.text)),
        ]
    return tuple(turns)


async def test_customers_writing_at_once_each_get_every_answer_once_in_order(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customers = [101, 102, 103, 104, 105]
    per_customer = 4
    planned: dict[str, MoodLabel] = {}
    for index, (turn, customer) in enumerate(
        (turn, customer) for turn in range(per_customer) for customer in customers
    ):
        planned[f"customer {customer} asks question {turn}"] = MOOD_LABELS[index % 3]
    spy = SpyEngine(tiny_engine, steer=planned.__getitem__)

    async with running(bot_config(fake, database_url), spy) as service:
        # All twenty messages are queued before the bot sees any: one burst of updates.
        for text in planned:
            customer = int(text.split()[1])
            fake.send_text(customer, customer, text)

        for customer in customers:
            chat_rows = await wait_for_status(service.database, customer, per_customer)
            pairs = answers_by_question(chat_rows)
            assert [question.text for question, _ in pairs] == [
                f"customer {customer} asks question {turn}" for turn in range(per_customer)
            ]
            for question, answer in pairs:
                assert question.mood_label == planned[question.text]
                assert answer.text.startswith(emoji_of(question.mood_label) + " "), answer
            # Each final answer reached the chat once, in the order of the questions.
            shown = fake.messages(customer)
            assert [message.text for message in shown] == [answer.text for _, answer in pairs]
            assert [message.message_id for message in shown] == [
                answer.telegram_message_id for _, answer in pairs
            ]
            for turn, (question, _) in enumerate(pairs):
                assert spy.history_for(question.text) == expected_history(pairs[:turn])
    assert len(spy.calls) == len(planned)


async def test_group_answers_only_when_mentioned_or_replied_to(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    group, ann, bob = -200, 301, 302
    fake.add_chat(group, "supergroup", title="Shop customers")
    fake.add_user(ann, first_name="Ann")
    fake.add_user(bob, first_name="Bob")
    spy = SpyEngine(tiny_engine)

    async with running(bot_config(fake, database_url), spy) as service:
        chatter = fake.send_text(group, ann, "hello everyone, anyone else waiting for parcels?")
        fake.send_text(group, bob, "me too", reply_to_message_id=chatter)
        text, entities = fake.mention_bot("my parcel is late")
        asked = fake.send_text(group, ann, text, entities=entities)
        [answer] = await fake.wait_for_messages(group, 1, timeout=ANSWER_TIMEOUT)
        replied = fake.send_text(
            group, bob, "is mine late too?", reply_to_message_id=answer.message_id
        )
        await wait_for_status(service.database, group, 2)

        chat_rows = await rows(service.database, group)
        pairs = answers_by_question(chat_rows)
        assert [(q.customer_id, q.text) for q, _ in pairs] == [
            (ann, "my parcel is late"),
            (bob, "is mine late too?"),
        ]
        shown = fake.messages(group)
        assert [message.text for message in shown] == [a.text for _, a in pairs]
        # In a busy group each answer points at the message it answers.
        assert [message.reply_to_message_id for message in shown] == [asked, replied]


async def test_group_members_each_have_their_own_history(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    group, ann, bob = -300, 311, 312
    fake.add_chat(group, "group")
    spy = SpyEngine(tiny_engine)
    texts = [
        (ann, "Ann: where is order 1?"),
        (bob, "Bob: I want a refund for order 2"),
        (ann, "Ann: any news on order 1?"),
        (bob, "Bob: still waiting for the refund"),
    ]

    async with running(bot_config(fake, database_url), spy) as service:
        for user, body in texts:
            text, entities = fake.mention_bot(body)
            fake.send_text(group, user, text, entities=entities)
        chat_rows = await wait_for_status(service.database, group, len(texts))

    pairs = answers_by_question(chat_rows)
    for member in (ann, bob):
        own = [(q, a) for q, a in pairs if q.customer_id == member]
        assert len(own) == 2
        assert spy.history_for(own[0][0].text) == ()
        assert spy.history_for(own[1][0].text) == expected_history(own[:1])


async def test_reset_starts_afresh_but_keeps_the_mood_log(
    fake: FakeTelegram, database_url: str, tiny_engine: MoodEngine
) -> None:
    customer = 401
    spy = SpyEngine(tiny_engine)

    async with running(bot_config(fake, database_url), spy) as service:
        for text in ("my first question", "/reset", "my second question", "my third question"):
            fake.send_text(customer, customer, text)
        chat_rows = await wait_for_status(service.database, customer, 3)
        moods = await service.store.recent_moods(customer)

    pairs = answers_by_question(chat_rows)
    assert spy.history_for("my first question") == ()
    assert spy.history_for("my second question") == ()
    assert spy.history_for("my third question") == expected_history(pairs[1:2])
    assert [message.text for message in moods] == [
        "my third question",
        "my second question",
        "my first question",
    ]
    assert spy.forgotten == [f"customer:{customer}"], "the engine's cache of it is dropped"
    assert {call.conversation for call in spy.calls} == {f"customer:{customer}"}
    shown = [message.text for message in fake.messages(customer)]
    assert shown[1] == "Done, we're starting fresh. I won't use our earlier messages any more."
    assert len(shown) == 4
