"""Triage at the desk, end to end: what each customer message wants shows in the topic's title,
beside the mirrored message, in alerts and in /queue grouped by intent; operators correct it
with the intent buttons (only operators, only with the buttons the post carries); with triage
off the desk shows nothing of intents."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from bench.fake_telegram import BotMessage, FakeTelegram
from bot.config import Config
from bot.operators.access import REFUSAL
from bot.service import BotService
from bot.texts import text as ui_text
from engine.types import Intent, Mood
from storage.models import IntentCorrection
from storage.mood_log import MoodFilter, MoodLog, MoodLogEntry
from tests.e2e.support import rows
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER, OPERATOR, KeywordEngine
from tests.operators.desk_support import (
    FORUM,
    ManualClock,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
    topic_posts,
)

BO = 100_002
CY = 100_003
BUTTON_REFUSED = ui_text("button_refused", "en")


class TriageEngine(KeywordEngine):
    """Moods by first word and complaint keywords as KeywordEngine; the intent by a word of
    the message: "refund" wants returns, "parcel" shipping, anything else other."""

    async def classify(self, text: str) -> Mood:
        mood = await super().classify(text)
        words = {word.strip(",.;:!?") for word in text.lower().split()}
        if "refund" in words:
            intent = Intent("returns", 0.84)
        elif "parcel" in words:
            intent = Intent("shipping", 0.77)
        else:
            intent = Intent("other", 0.6)
        return replace(mood, intent=intent)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram(Bo=BO, Cy=CY) as server:
        yield server


def triage_off(config: Config) -> Config:
    return replace(config, engine=replace(config.engine, triage=None))


def keyboard(post: BotMessage) -> list[list[tuple[str, str]]]:
    markup = post.reply_markup or {"inline_keyboard": []}
    return [
        [(button["text"], button["callback_data"]) for button in row]
        for row in markup["inline_keyboard"]
    ]


def intent_data(post: BotMessage, intent: str) -> str:
    [data] = [data for row in keyboard(post) for text, data in row if text == f"🏷 {intent}"]
    return data


async def press(
    fake: FakeTelegram, post: BotMessage, data: str, *, user: int = OPERATOR, forged: bool = False
) -> tuple[str, bool]:
    """`user` presses the button under the post; the bot's answer (text, shown as an alert)."""
    before = len(fake.callback_answers)
    fake.press_button(FORUM, user, post.message_id, data, forged=forged)
    answers = await fake.wait_for(
        lambda: fake.callback_answers[before:], ANSWER_TIMEOUT, description="the press answered"
    )
    return answers[0].text or "", answers[0].show_alert


async def edited(fake: FakeTelegram, post: BotMessage, words: str) -> BotMessage:
    def found() -> BotMessage | None:
        now = fake.message(FORUM, post.message_id)
        return now if words in now.text else None

    return await fake.wait_for(found, ANSWER_TIMEOUT, description=f"an edit to {words!r}")


async def log_entries(service: BotService) -> list[MoodLogEntry]:
    return await MoodLog(service.database).entries(MoodFilter())


async def corrections(service: BotService) -> int:
    async with service.database.session() as session:
        return await session.scalar(select(func.count()).select_from(IntentCorrection)) or 0


async def test_the_title_and_the_mirrored_message_show_the_intent(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock(), TriageEngine()) as service:
        await converse(fake, service, CUSTOMER, "sad refund never came")
        posts = await topic_posts(fake, service, 2)
        title = await fake.wait_for(
            lambda: "😢 Ann (@ann) · returns · refund, never" in fake.topics(FORUM)[0].names,
            ANSWER_TIMEOUT,
            description="the title with intent and keywords",
        )
        await converse(fake, service, CUSTOMER, "glad the parcel came")
        await topic_posts(fake, service, 5)
        await fake.wait_for(
            lambda: fake.topics(FORUM)[0].names[-1] == "😄↗ Ann (@ann) · shipping · refund, never",
            ANSWER_TIMEOUT,
            description="the title with the newest intent",
        )

    question = posts[0]
    assert title
    assert question.text == "😢 97% · 🏷 returns 84% · customer:\nsad refund never came"
    rows_ = keyboard(question)
    assert [len(row) for row in rows_] == [4, 4]
    assert [text for row in rows_ for text, _ in row] == [
        "🏷 order_status",
        "🏷 shipping",
        "🏷 returns",
        "🏷 product",
        "🏷 payment",
        "🏷 order_change",
        "🏷 feedback",
        "🏷 other",
    ]
    # The bot's answer is not the customer's message: no intent buttons under it.
    assert all(not text.startswith("🏷") for row in keyboard(posts[1]) for text, _ in row)


async def test_an_operator_corrects_the_intent_under_the_mirrored_message(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock(), TriageEngine()) as service:
        await converse(fake, service, CUSTOMER, "hello I want a refund")
        question = (await topic_posts(fake, service, 2))[0]
        said = await press(fake, question, intent_data(question, "payment"))
        after = await edited(fake, question, "Intent set to")
        await fake.wait_for(
            lambda: fake.topics(FORUM)[0].names[-1] == "😐 Ann (@ann) · payment",
            ANSWER_TIMEOUT,
            description="the title with the operator's intent",
        )
        # A second thought: the latest correction replaces the line.
        await press(fake, question, intent_data(question, "product"))
        again = await edited(fake, question, "🏷 product by")
        [entry] = await log_entries(service)

    assert said == ("Intent set to payment", False)
    assert after.text.startswith(question.text + "\n\n✍️ Intent set to 🏷 payment by Olga")
    assert after.reply_markup == question.reply_markup, "the buttons stay for a second thought"
    assert again.text.count("Intent set to") == 1
    # The model's intent is kept beside the operator's.
    assert (entry.model_intent, entry.model_intent_confidence) == ("returns", 0.84)
    assert (entry.intent_correction, entry.intent) == ("product", "product")


async def test_an_alert_names_the_intent_and_both_corrections_show(
    fake: FakeTelegram, database_url: str
) -> None:
    config = desk_config(fake, database_url, alert_confidence=0.9)
    async with desk_bot(config, ManualClock(), TriageEngine()) as service:
        await converse(fake, service, CUSTOMER, "sad refund missing since May")
        alert = await fake.wait_for(
            lambda: next((m for m in fake.messages(FORUM) if "Mood alert" in m.text), None),
            ANSWER_TIMEOUT,
            description="the alert",
        )
        assert all(data.startswith("correct-mood:") for _, data in keyboard(alert)[0])
        said = await press(fake, alert, intent_data(alert, "shipping"))
        await edited(fake, alert, "Intent set to")
        await press(fake, alert, keyboard(alert)[0][1][1])
        both = await edited(fake, alert, "Corrected to")
        [entry] = await log_entries(service)

    lines = alert.text.splitlines()
    assert lines[lines.index("😢 97%: sad refund missing since May") + 1] == (
        "🏷 Wants: returns (84%)"
    )
    assert [len(row) for row in keyboard(alert)] == [3, 4, 4]
    assert said == ("Intent set to shipping", False)
    corrected = both.text.split("\n\n")[-1].splitlines()
    assert [line.split(" by ")[0] for line in corrected] == [
        "✍️ Intent set to 🏷 shipping",
        "✍️ Corrected to 😐 neutral",
    ]
    assert (entry.intent, entry.label) == ("shipping", "neutral")


async def test_only_operators_may_set_an_intent(fake: FakeTelegram, database_url: str) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock(), TriageEngine()) as service:
        await converse(fake, service, CUSTOMER, "sad refund please")
        question = (await topic_posts(fake, service, 2))[0]
        said = await press(fake, question, intent_data(question, "other"), user=CUSTOMER)
        stored = await corrections(service)

    assert said == (REFUSAL["en"], True)
    assert fake.message(FORUM, question.message_id).edits == []
    assert stored == 0


async def test_forged_intent_data_gets_a_clear_answer_and_changes_nothing(
    fake: FakeTelegram, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with desk_bot(desk_config(fake, database_url), ManualClock(), TriageEngine()) as service:
        await converse(fake, service, CUSTOMER, "sad refund please")
        await converse(fake, service, BO, "hello there")
        await service.operators.channel.drain()
        ann = fake.topics(FORUM)[0].message_thread_id
        question = (await topic_posts(fake, service, 2, ann))[0]
        ann_id = (await rows(service.database, CUSTOMER))[0].id
        bo_id = (await rows(service.database, BO))[0].id
        forged = [
            f"fix-intent:{ann_id}:refund_now",  # no such intent
            f"fix-intent:{ann_id}:RETURNS",
            f"fix-intent:{bo_id}:returns",  # well-formed, but a button of another post
            f"fix-intent:{ann_id}:returns:1",
            f"fix-intent:{ann_id}",
            "fix-intent:abc:returns",
            f"fix-intent:{'9' * 25}:returns",
            "fix-intent",
        ]
        said = [await press(fake, question, data, forged=True) for data in forged]
        stored = await corrections(service)

    assert said == [(BUTTON_REFUSED, False)] * len(forged)
    assert fake.message(FORUM, question.message_id).edits == []
    assert stored == 0
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [record.getMessage() for record in errors]


async def test_the_queue_groups_waiting_conversations_by_intent(
    fake: FakeTelegram, database_url: str
) -> None:
    # "price …" is handed off (see FirstWordEngine): each waits for a person, all neutral, so
    # the longest waiting comes first: Ann, then Bo, then Cy.
    clock = ManualClock()
    async with desk_bot(desk_config(fake, database_url), clock, TriageEngine()) as service:
        await converse(fake, service, CUSTOMER, "price of a refund?")
        clock.advance(minutes=5)
        await converse(fake, service, BO, "price for a parcel to Paris?")
        clock.advance(minutes=5)
        await converse(fake, service, CY, "price of the refund fee?")
        await service.operators.channel.drain()
        first = await queue(fake)
        # An operator says Cy's question is about shipping.
        cy_topic = fake.topics(FORUM)[-1].message_thread_id
        [cy_question] = [
            post
            for post in await topic_posts(fake, service, 2, cy_topic)
            if "customer:" in post.text
        ]
        await press(fake, cy_question, intent_data(cy_question, "shipping"))
        second = await queue(fake)

    lines = first.splitlines()
    assert lines[0] == "Waiting for a person: 3"
    assert headed(first) == [
        "🏷 returns (2)",
        "1. Ann",
        "2. Cy",
        "🏷 shipping (1)",
        "3. Bo",
    ]
    topics = {topic.names[0].split()[1]: topic.message_thread_id for topic in fake.topics(FORUM)}
    for number, name in (("1.", "Ann"), ("2.", "Cy"), ("3.", "Bo")):
        [line] = [index for index, line in enumerate(lines) if line.startswith(number)]
        assert lines[line + 2] == f"   https://t.me/c/900001/{topics[name]}", first
    # The operator's intent counts in the queue.
    assert headed(second) == ["🏷 returns (1)", "1. Ann", "🏷 shipping (2)", "2. Bo", "3. Cy"]


def headed(queue_text: str) -> list[str]:
    """The headings, and each numbered line's number and customer name."""
    return [
        line if line.startswith("🏷") else " ".join(line.split()[:1] + line.split()[3:4])
        for line in queue_text.splitlines()
        if line.startswith("🏷") or line[:2] in ("1.", "2.", "3.")
    ]


async def queue(fake: FakeTelegram) -> str:
    before = len(fake.messages(OPERATOR))
    fake.send_text(OPERATOR, OPERATOR, "/queue")
    found = await fake.wait_for_messages(OPERATOR, before + 1, timeout=ANSWER_TIMEOUT)
    return found[before].text


async def test_with_triage_off_nothing_about_intents_shows(
    fake: FakeTelegram, database_url: str
) -> None:
    config = triage_off(desk_config(fake, database_url, alert_confidence=0.9))
    async with desk_bot(config, ManualClock(), TriageEngine()) as service:
        await converse(fake, service, CUSTOMER, "sad refund missing", "price of a refund?")
        alert = await fake.wait_for(
            lambda: next((m for m in fake.messages(FORUM) if "Mood alert" in m.text), None),
            ANSWER_TIMEOUT,
            description="the alert",
        )
        posts = await topic_posts(fake, service, 5)
        question = next(post for post in posts if "customer:" in post.text)
        listed = await queue(fake)
        said = await press(fake, question, f"fix-intent:{question.message_id}:returns", forged=True)
        titles = fake.topics(FORUM)[0].names
        stored = await corrections(service)

    assert question.text == "😢 97% · customer:\nsad refund missing"
    assert question.reply_markup is None
    assert "🏷" not in alert.text and "Wants" not in alert.text
    assert [len(row) for row in keyboard(alert)] == [3]
    assert all("returns" not in title and "other" not in title for title in titles), titles
    assert "🏷" not in listed and "no intent" not in listed and "1. 😐 55% Ann" in listed
    assert said == (BUTTON_REFUSED, False)
    assert stored == 0
