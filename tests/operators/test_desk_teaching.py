"""The desk and the facts, end to end: the evidence under each answer in the customer's topic
and the wrong-answer button; an operator's answer to a handed-off question saved as a fact
that the next answer rests on, in this bot and in another one on the same database; /facts
with its remove button; /gaps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from bench.fake_telegram import BotMessage, FakeTelegram
from bot.operators import desk_facts
from bot.service import BotService
from engine.config import KnowledgeConfig
from engine.knowledge.base import KnowledgeBase
from engine.types import HandOff, Mood, Turn
from storage.answer_flags import answer_stats
from storage.desk_facts import DeskFacts
from tests.e2e.support import rows
from tests.operators.bot_support import (
    ANSWER_TIMEOUT,
    CUSTOMER,
    HANDOFF_REPLY,
    OPERATOR,
    CannedReply,
    FirstWordEngine,
)
from tests.operators.desk_support import (
    FORUM,
    ManualClock,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
    topic_posts,
)
from tests.postgres import scratch_postgres_database

BO = 100_002
SHIPPING = "We ship within mainland China only."
GIFT_CARDS = "Yes, gift cards of 100 and 200 yuan, in every store."


class FactsEngine(FirstWordEngine):
    """Answers from the best-matching statement (the file's or the desk's), with it as the
    evidence; hands off a message that matches none."""

    def __init__(self, facts: Path) -> None:
        super().__init__(KnowledgeBase(KnowledgeConfig(facts)))

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> CannedReply:
        assert self.knowledge is not None
        found = self.knowledge.candidates_for(text, "en")
        if not found:
            return CannedReply(HANDOFF_REPLY, HandOff("the facts do not answer it", text))
        return CannedReply(f"Here is what I know: {found[0].text}", evidence=(found[0],))


@pytest.fixture
def facts_file(tmp_path: Path) -> Path:
    path = tmp_path / "facts.md"
    path.write_text(f"## Shipping\n{SHIPPING}\n", encoding="utf-8")
    return path


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram(Bo=BO) as server:
        yield server


def posts_with(fake: FakeTelegram, words: str) -> list[BotMessage]:
    return [m for m in fake.messages(FORUM) if words in m.text]


async def wait_for_post(fake: FakeTelegram, words: str) -> BotMessage:
    found = await fake.wait_for(
        lambda: posts_with(fake, words), ANSWER_TIMEOUT, description=f"a post with {words!r}"
    )
    return found[-1]


async def edited(fake: FakeTelegram, post: BotMessage, words: str) -> BotMessage:
    """The post once the bot has edited it to say `words`."""

    def found() -> list[BotMessage]:
        now = fake.message(FORUM, post.message_id)
        return [now] if words in now.text else []

    return (await fake.wait_for(found, ANSWER_TIMEOUT, description=f"an edit to {words!r}"))[0]


def button(post: BotMessage, row: int = 0) -> str:
    markup = post.reply_markup
    assert markup is not None, post.text
    data: str = markup["inline_keyboard"][row][0]["callback_data"]
    return data


async def press(fake: FakeTelegram, post: BotMessage, data: str, *, forged: bool = False) -> str:
    """An operator presses the button; the bot's answer to the press."""
    before = len(fake.callback_answers)
    fake.press_button(FORUM, OPERATOR, post.message_id, data, forged=forged)
    answers = await fake.wait_for(
        lambda: fake.callback_answers[before:], ANSWER_TIMEOUT, description="the press answered"
    )
    return answers[0].text or ""


async def test_each_answer_shows_its_evidence_and_an_operator_can_flag_it_wrong(
    fake: FakeTelegram, database_url: str, facts_file: Path
) -> None:
    clock = ManualClock()
    engine = FactsEngine(facts_file)
    async with desk_bot(desk_config(fake, database_url), clock, engine) as service:
        await converse(fake, service, CUSTOMER, "Do you ship to Canada?")
        _question, answer = await topic_posts(fake, service, 2)
        flag = button(answer)
        said = await press(fake, answer, flag)
        flagged = await edited(fake, answer, "Flagged as wrong")
        again = await press(fake, answer, flag, forged=True)
        stats = await answer_stats(
            service.database, clock() - timedelta(hours=1), clock() + timedelta(hours=1)
        )

    assert answer.text.splitlines() == [
        "🤖 bot:",
        f"😐 Here is what I know: {SHIPPING}",
        f"📎 {SHIPPING}",
    ]
    assert said.startswith("Flagged as wrong")
    assert "⚠️ Flagged as wrong by Olga" in flagged.text
    assert flagged.reply_markup is None
    # The button is gone: a second press (an old client) changes nothing.
    assert "Flagged" not in again
    assert (stats.answered, stats.from_facts, stats.flagged) == (1, 1, 1)


async def test_an_operators_answer_saved_as_a_fact_answers_the_next_customer(
    fake: FakeTelegram, database_url: str, facts_file: Path
) -> None:
    engine = FactsEngine(facts_file)
    async with desk_bot(desk_config(fake, database_url), ManualClock(), engine) as service:
        await converse(fake, service, CUSTOMER, "Do you sell gift cards?")
        handoff = (await topic_posts(fake, service, 2))[1]
        ann_topic = fake.topics(FORUM)[0].message_thread_id
        fake.send_text(FORUM, OPERATOR, GIFT_CARDS, message_thread_id=ann_topic)
        offer = await wait_for_post(fake, "Save it as a fact")
        said = await press(fake, offer, button(offer))
        saved = await edited(fake, offer, "Saved as desk fact")
        await converse(fake, service, BO, "Can I buy gift cards for my mum?")
        bo_answer = fake.messages(BO)[-1].text

        listing = await asking(fake, service, "/facts")
        removed = await press(fake, listing, button(listing))
        relisted = await edited(fake, listing, "No desk facts yet")
        await converse(fake, service, BO, "Gift cards, really?")
        after_removal = fake.messages(BO)[-1].text
        stored = await DeskFacts(service.database).active()

    assert [m.text for m in fake.messages(CUSTOMER)] == [
        f"😐 {HANDOFF_REPLY}",
        f"👤 Support team: {GIFT_CARDS}",
    ]
    # A hand-off answers nothing: no wrong-answer button under it.
    assert handoff.text.endswith(HANDOFF_REPLY) and handoff.reply_markup is None
    assert said.startswith("Saved")
    assert saved.text.startswith("📌 Saved as desk fact #1 by Olga") and saved.reply_markup is None
    assert bo_answer == f"😐 Here is what I know: Do you sell gift cards? → {GIFT_CARDS}"
    assert "#1" in listing.text and GIFT_CARDS in listing.text
    assert removed == "Removed #1."
    assert relisted.text.startswith("📌 No desk facts yet")
    assert after_removal == f"😐 {HANDOFF_REPLY}"
    assert stored == []


async def test_no_offer_to_save_an_operator_message_that_answers_no_hand_off(
    fake: FakeTelegram, database_url: str, facts_file: Path
) -> None:
    engine = FactsEngine(facts_file)
    async with desk_bot(desk_config(fake, database_url), ManualClock(), engine) as service:
        await converse(fake, service, CUSTOMER, "Do you ship to Canada?")
        await topic_posts(fake, service, 2)
        topic = fake.topics(FORUM)[0].message_thread_id
        fake.send_text(FORUM, OPERATOR, "Sorry, only within China.", message_thread_id=topic)
        await fake.wait_for_messages(CUSTOMER, 2, timeout=ANSWER_TIMEOUT)
        await wait_for_post(fake, "took over")
        await service.operators.channel.drain()

    assert posts_with(fake, "Save it as a fact") == []


async def asking(fake: FakeTelegram, service: BotService, command: str) -> BotMessage:
    """An operator sends `command` in the forum's general topic; the bot's reply (the desk
    has written everything queued before, so nothing else comes between)."""
    await service.operators.channel.drain()
    before = len(fake.messages(FORUM))
    fake.send_text(FORUM, OPERATOR, command)
    found = await fake.wait_for(
        lambda: fake.messages(FORUM)[before:], ANSWER_TIMEOUT, description=command
    )
    return found[0]


async def test_gaps_groups_the_handed_off_questions_by_what_they_ask(
    fake: FakeTelegram, database_url: str, facts_file: Path
) -> None:
    engine = FactsEngine(facts_file)
    async with desk_bot(desk_config(fake, database_url), ManualClock(), engine) as service:
        await converse(fake, service, CUSTOMER, "Do you sell gift cards?", "Opening hours?")
        await converse(fake, service, BO, "Gift card for my mum?")
        ann_topic = fake.topics(FORUM)[0].message_thread_id
        fake.send_text(FORUM, OPERATOR, "We open at 9.", message_thread_id=ann_topic)
        await fake.wait_for_messages(CUSTOMER, 3, timeout=ANSWER_TIMEOUT)
        await wait_for_post(fake, "Save it as a fact")
        gaps = await asking(fake, service, "/gaps")
        bad = await asking(fake, service, "/gaps soon")

    lines = gaps.text.splitlines()
    assert lines[0].startswith("🕳 3 questions handed to a person since")
    assert "in 2 groups" in lines[0]
    # Ann's question counts as answered: an operator wrote to her after it.
    assert lines[2] == "1. card, gift: asked 2×, 1 answered by an operator, 0 saved as a fact"
    assert lines[3] == "   “Do you sell gift cards?” · “Gift card for my mum?”"
    assert lines[5].startswith("2. ") and "asked 1×, 1 answered by an operator" in lines[5]
    assert "Usage: /gaps" in bad.text


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database("teaching") as url:
        yield url


@pytest.mark.postgres
async def test_a_fact_saved_in_one_bot_reaches_another_on_the_same_database(
    facts_file: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two bots (each with its own engine and facts) on one PostgreSQL database: the second
    answers from a fact the first one's operator saved, without a restart."""
    monkeypatch.setattr(desk_facts, "SYNC_SECONDS", 0.2)
    first_engine, second_engine = FactsEngine(facts_file), FactsEngine(facts_file)

    async with (
        desk_telegram(Bo=BO) as first_fake,
        desk_telegram(Bo=BO) as second_fake,
        desk_bot(desk_config(first_fake, postgres_url), ManualClock(), first_engine) as first,
        desk_bot(desk_config(second_fake, postgres_url), ManualClock(), second_engine) as second,
    ):
        await converse(first_fake, first, CUSTOMER, "Do you sell gift cards?")
        await topic_posts(first_fake, first, 2)
        topic = first_fake.topics(FORUM)[0].message_thread_id
        first_fake.send_text(FORUM, OPERATOR, GIFT_CARDS, message_thread_id=topic)
        offer = await wait_for_post(first_fake, "Save it as a fact")
        await press(first_fake, offer, button(offer))
        await second_fake.wait_for(
            lambda: second_engine.knowledge is not None and second_engine.knowledge.current.desk,
            ANSWER_TIMEOUT,
            description="the second bot's desk facts",
        )
        await converse(second_fake, second, BO, "Gift cards for my mum?")
        stored = await rows(second.database, BO)

    assert second_fake.messages(BO)[-1].text.endswith(f"Do you sell gift cards? → {GIFT_CARDS}")
    assert stored[-1].role == "assistant"
