"""Messages are stored as they arrive, not when their turn comes: Telegram forgets an update
once the bot has polled past it, so one waiting behind a long answer must already be safe."""

from __future__ import annotations

from pathlib import Path

from bench.fake_telegram import FakeTelegram
from bot.texts import text
from engine.types import Turn
from tests.service.support import (
    GatedEngine,
    assert_answered_once,
    bot_config,
    questions_and_answers,
    running,
    sqlite_url,
    stored,
    wait_until,
)


async def test_messages_behind_an_answer_are_stored_at_once_and_answered_in_order(
    fake: FakeTelegram, db_path: Path
) -> None:
    customer, engine = 3301, GatedEngine()
    async with running(bot_config(fake, sqlite_url(db_path)), engine):
        fake.send_text(customer, customer, "first")
        await wait_until(lambda: engine.requests, what="the first answer to start")
        fake.send_text(customer, customer, "second")
        fake.send_text(customer, customer, "third")
        await wait_until(lambda: not fake.pending_updates(), what="Telegram to forget them")
        await wait_until(lambda: len(stored(db_path, customer)) == 3, what="all three stored")
        assert [row.status for row in stored(db_path, customer)] == ["pending"] * 3

        for count in (2, 3):
            engine.release()
            await wait_until(lambda c=count: len(engine.requests) == c, what=f"answer {count}")
        engine.release()
        await wait_until(lambda: len(fake.messages(customer)) == 3, what="three answers")

    assert_answered_once(db_path, fake, customer, ["first", "second", "third"])
    reply = (Turn("assistant", engine.reply_text),)
    assert [history for history, _ in engine.asked()] == [
        (),
        (Turn("user", "first", "neutral"), *reply),
        (Turn("user", "first", "neutral"), *reply, Turn("user", "second", "neutral"), *reply),
    ]


async def test_a_message_behind_a_reset_waits_for_it_before_it_is_stored(
    fake: FakeTelegram, db_path: Path
) -> None:
    customer, engine = 3311, GatedEngine()
    async with running(bot_config(fake, sqlite_url(db_path)), engine):
        fake.send_text(customer, customer, "before the reset")
        await wait_until(lambda: engine.requests, what="the first answer to start")
        fake.send_text(customer, customer, "/reset")
        fake.send_text(customer, customer, "after the reset")
        await wait_until(lambda: not fake.pending_updates(), what="Telegram to forget them")
        # Stored now, it would count as written before the reset and leave later histories.
        assert [row.text for row in stored(db_path, customer)] == ["before the reset"]

        engine.release()
        await wait_until(lambda: len(engine.requests) == 2, what="the second answer")
        # With nothing but messages ahead of it, the next one is stored at once again.
        fake.send_text(customer, customer, "one more")
        await wait_until(lambda: len(stored(db_path, customer)) == 4, what="'one more' stored")
        engine.release()
        await wait_until(lambda: len(engine.requests) == 3, what="the third answer")
        engine.release()
        await wait_until(lambda: len(fake.messages(customer)) == 4, what="all answers")

    reply = (Turn("assistant", engine.reply_text),)
    assert [history for history, _ in engine.asked()] == [
        (),
        (),
        (Turn("user", "after the reset", "neutral"), *reply),
    ]
    pairs = questions_and_answers(stored(db_path, customer))
    assert [question.text for question, _ in pairs] == [
        "before the reset",
        "after the reset",
        "one more",
    ]
    assert all(len(answers) == 1 for _, answers in pairs)
    shown = [message.text for message in fake.messages(customer)]
    assert shown[1] == text("reset_done", "en")
    assert [shown[0], *shown[2:]] == [answers[0].text for _, answers in pairs]


async def test_a_chat_over_its_cap_is_answered_from_storage_in_order(
    fake: FakeTelegram, db_path: Path
) -> None:
    customer, engine = 3321, GatedEngine()
    texts = [f"message {n}" for n in range(7)]
    config = bot_config(fake, sqlite_url(db_path), max_waiting_per_chat=2)
    async with running(config, engine) as service:
        fake.send_text(customer, customer, texts[0])
        await wait_until(lambda: engine.requests, what="the first answer to start")
        for question in texts[1:]:
            fake.send_text(customer, customer, question)
        await wait_until(lambda: len(stored(db_path, customer)) == 7, what="all stored")
        # What the updates set aside kept for their turn is let go at once.
        await wait_until(lambda: len(service.answering._stored_on_arrival) <= 2, what="set aside")

        for count in range(2, 8):
            engine.release()
            await wait_until(lambda c=count: len(engine.requests) == c, what=f"answer {count}")
        engine.release()
        await wait_until(lambda: len(fake.messages(customer)) == 7, what="seven answers")

    assert_answered_once(db_path, fake, customer, texts)
    reply = (Turn("assistant", engine.reply_text),)
    assert [history for history, _ in engine.asked()][-1] == tuple(
        turn for question in texts[:-1] for turn in (Turn("user", question, "neutral"), *reply)
    )
