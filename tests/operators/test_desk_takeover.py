"""Operators take a conversation over from the bot and hand it back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest

from bench.fake_telegram import FakeTelegram
from engine.types import HandOff, Mood, Turn
from tests.e2e.support import rows, wait_for_async, wait_for_status
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER, OPERATOR, FirstWordEngine
from tests.operators.desk_support import (
    FORUM,
    REPLY,
    ManualClock,
    RecordingEngine,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
    topic_posts,
)

STRANGER = 100_777


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram(Stranger=STRANGER) as server:
        yield server


def thread(fake: FakeTelegram) -> int:
    [topic] = fake.topics(FORUM)
    return topic.message_thread_id


async def operator_writes(fake: FakeTelegram, text: str, user: int = OPERATOR) -> None:
    """An operator writes in the customer's topic; waits for the customer to get it."""
    before = len(fake.messages(CUSTOMER))
    fake.send_text(FORUM, user, text, message_thread_id=thread(fake))
    await fake.wait_for_messages(CUSTOMER, before + 1, timeout=ANSWER_TIMEOUT)


async def takeover_note(fake: FakeTelegram) -> int:
    notes = await fake.wait_for(
        lambda: [m for m in fake.messages(FORUM) if "took over" in m.text],
        ANSWER_TIMEOUT,
        description="the takeover note",
    )
    return notes[-1].message_id


async def test_an_operator_answer_is_delivered_once_stored_and_silences_the_bot(
    fake: FakeTelegram, database_url: str
) -> None:
    engine = RecordingEngine()
    async with desk_bot(desk_config(fake, database_url), ManualClock(), engine) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late")
        await topic_posts(fake, service, 2)
        await operator_writes(fake, "It ships today, Ann.")
        await converse(fake, service, CUSTOMER, "glad, thanks!")
        posts = await topic_posts(fake, service, 4)
        stored = await rows(service.database, CUSTOMER)

    to_customer = [m.text for m in fake.messages(CUSTOMER)]
    assert to_customer == [f"😢 {REPLY}", "👤 Support team: It ships today, Ann."]
    assert [(row.role, row.status) for row in stored] == [
        ("user", "answered"),
        ("assistant", "answered"),
        ("operator", "answered"),
        ("user", "human"),
    ]
    assert len(engine.histories) == 1
    assert "took over" in posts[2].text and posts[-1].text.endswith("glad, thanks!")


async def test_hand_back_by_button_then_the_model_sees_the_operator_turn(
    fake: FakeTelegram, database_url: str
) -> None:
    engine = RecordingEngine()
    async with desk_bot(desk_config(fake, database_url), ManualClock(), engine) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late")
        await topic_posts(fake, service, 2)
        await operator_writes(fake, "It ships today.")
        note = await takeover_note(fake)
        [[hand_back, _close]] = fake.message(FORUM, note).reply_markup["inline_keyboard"]  # type: ignore[index]
        fake.press_button(FORUM, OPERATOR, note, hand_back["callback_data"])
        await fake.wait_for(lambda: fake.callback_answers, ANSWER_TIMEOUT)
        await converse(fake, service, CUSTOMER, "glad it arrived")
        await service.operators.channel.drain()

    assert fake.messages(CUSTOMER)[-1].text == f"😄 {REPLY}"
    assert engine.histories[-1][-1] == Turn("operator", "It ships today.")
    assert any("Handed back to the bot by Olga" in m.text for m in fake.messages(FORUM))
    assert fake.message(FORUM, note).reply_markup is None


async def test_hand_back_by_command_and_by_idle_timeout(
    fake: FakeTelegram, database_url: str
) -> None:
    clock = ManualClock()
    config = desk_config(fake, database_url, takeover_idle_minutes=30)
    async with desk_bot(config, clock) as service:
        await converse(fake, service, CUSTOMER, "hello")
        await topic_posts(fake, service, 2)
        await operator_writes(fake, "Hi, Olga here.")
        fake.send_text(FORUM, OPERATOR, "/handback", message_thread_id=thread(fake))
        await fake.wait_for(
            lambda: any("Handed back" in m.text for m in fake.messages(FORUM)), ANSWER_TIMEOUT
        )
        await converse(fake, service, CUSTOMER, "still there?")
        answered_after_command = fake.messages(CUSTOMER)[-1].text

        await operator_writes(fake, "Yes, me again.")
        # The takeover starts once the message is stored, which its note follows.
        await fake.wait_for(
            lambda: len([m for m in fake.messages(FORUM) if "took over" in m.text]) == 2,
            ANSWER_TIMEOUT,
        )
        clock.advance(minutes=29)
        assert await service.operators.takeovers.expire_idle() == 0
        clock.advance(minutes=2)
        assert await service.operators.takeovers.expire_idle() == 1
        await converse(fake, service, CUSTOMER, "ok")
        await service.operators.channel.drain()

    assert answered_after_command == f"😐 {REPLY}"
    assert fake.messages(CUSTOMER)[-1].text == f"😐 {REPLY}"
    assert any("after 30 minutes without a message" in m.text for m in fake.messages(FORUM))


async def test_a_takeover_survives_a_restart(fake: FakeTelegram, database_url: str) -> None:
    config = desk_config(fake, database_url)
    async with desk_bot(config, ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "hello")
        await topic_posts(fake, service, 2)
        await operator_writes(fake, "Olga here.")
    async with desk_bot(config, ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad where did you go")
        stored = await rows(service.database, CUSTOMER)

    assert [m.text for m in fake.messages(CUSTOMER)][-1] == "👤 Support team: Olga here."
    assert stored[-1].status == "human"


async def test_a_non_operator_in_the_topic_reaches_nobody(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "hello")
        posts = await topic_posts(fake, service, 2)
        fake.send_text(FORUM, STRANGER, "I am not staff", message_thread_id=thread(fake))
        fake.send_text(FORUM, STRANGER, "/handback", message_thread_id=thread(fake))
        # Anything the bot did in reply would come before its answer to this.
        await converse(fake, service, CUSTOMER, "anyone?")
        await topic_posts(fake, service, 4)
        stored = await rows(service.database, CUSTOMER)

    assert [m.text for m in fake.messages(CUSTOMER)] == [f"😐 {REPLY}"] * 2
    assert len(fake.messages(FORUM)) == len(posts) + 2
    assert "operator" not in [row.role for row in stored]


async def test_an_undeliverable_operator_message_is_reported_in_the_topic(
    fake: FakeTelegram, database_url: str
) -> None:
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "hello")
        await topic_posts(fake, service, 2)
        fake.fail_next("sendMessage", status=429, retry_after=1)
        await operator_writes(fake, "first try, after flood control")
        fake.block_bot(CUSTOMER)
        fake.send_text(FORUM, OPERATOR, "are you there?", message_thread_id=thread(fake))
        report = await fake.wait_for(
            lambda: [m for m in fake.messages(FORUM) if "Not delivered" in m.text],
            ANSWER_TIMEOUT,
        )
        stored = await rows(service.database, CUSTOMER)

    texts = [m.text for m in fake.messages(CUSTOMER)]
    assert texts.count("👤 Support team: first try, after flood control") == 1
    assert report[0].message_thread_id == thread(fake)
    assert [row.text for row in stored if row.role == "operator"] == [
        "first try, after flood control"
    ]


class HeldReply:
    """A reply written until the test lets it finish; like a reply from another process (or
    a server that finishes what it started), cancelling it does not stop it."""

    def __init__(self, release: asyncio.Event) -> None:
        self._release = release
        self.cancel_asked = False
        self.handoff: HandOff | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        yield "Thanks "
        await self._release.wait()
        yield "for telling me."

    async def text(self) -> str:
        await self._release.wait()
        return REPLY

    def cancel(self) -> None:
        self.cancel_asked = True

    @property
    def cancelled(self) -> bool:
        return False


@dataclass
class HeldEngine(FirstWordEngine):
    release: asyncio.Event = field(default_factory=asyncio.Event)
    replies: list[HeldReply] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> HeldReply:
        self.replies.append(HeldReply(self.release))
        return self.replies[-1]

    async def started(self) -> bool:
        return bool(self.replies)


async def test_an_operator_message_wins_over_the_answer_being_written(
    fake: FakeTelegram, database_url: str
) -> None:
    engine = HeldEngine()
    async with desk_bot(desk_config(fake, database_url), ManualClock(), engine) as service:
        fake.send_text(CUSTOMER, CUSTOMER, "sad where is my parcel")
        await wait_for_async(engine.started, what="the reply to start")
        await topic_posts(fake, service, 1)
        await operator_writes(fake, "Olga here: it ships today.")
        # The bot's reply is finished only once the customer has the operator's message.
        engine.release.set()
        stored = await wait_for_status(service.database, CUSTOMER, 1, status="human")

    assert [m.text for m in fake.messages(CUSTOMER)] == [
        "👤 Support team: Olga here: it ships today."
    ]
    assert engine.replies[0].cancel_asked
    assert [(row.role, row.status) for row in stored] == [
        ("user", "human"),
        ("operator", "answered"),
    ]


async def test_a_takeover_idles_from_the_last_operator_message_whatever_the_customer_writes(
    fake: FakeTelegram, database_url: str
) -> None:
    clock = ManualClock()
    config = desk_config(fake, database_url, takeover_idle_minutes=30)
    async with desk_bot(config, clock) as service:
        await converse(fake, service, CUSTOMER, "hello")
        await topic_posts(fake, service, 2)
        await operator_writes(fake, "Hi, Olga here.")
        await takeover_note(fake)
        for _ in range(3):
            clock.advance(minutes=10)
            await converse(fake, service, CUSTOMER, "hello? anyone?")
        clock.advance(minutes=1)
        handed_back = await service.operators.takeovers.expire_idle()

    assert handed_back == 1
