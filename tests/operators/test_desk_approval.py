"""Replies an operator approves before the customer sees them: send, edit, discard."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bench.fake_telegram import BotMessage, FakeTelegram
from bot.texts import TEXTS
from storage import Database
from storage.approvals import Approvals
from tests.e2e.support import rows, wait_for_async, wait_for_status
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER, OPERATOR
from tests.operators.desk_support import (
    FORUM,
    REPLY,
    ManualClock,
    RecordingEngine,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram() as server:
        yield server


async def the_draft(fake: FakeTelegram) -> BotMessage:
    drafts = await fake.wait_for(
        lambda: [m for m in fake.messages(FORUM) if m.text.startswith("📝 Draft")],
        ANSWER_TIMEOUT,
        description="a draft in the topic",
    )
    return drafts[-1]


def press(fake: FakeTelegram, draft: BotMessage, label: str) -> None:
    [row] = draft.reply_markup["inline_keyboard"]  # type: ignore[index]
    [data] = [button["callback_data"] for button in row if label in button["text"]]
    fake.press_button(FORUM, OPERATOR, draft.message_id, data)


async def customer_gets(fake: FakeTelegram, count: int) -> list[str]:
    found = await fake.wait_for_messages(CUSTOMER, count, timeout=ANSWER_TIMEOUT)
    return [message.text for message in found]


async def test_send_delivers_the_draft_once_and_stores_the_decision(
    fake: FakeTelegram, database_url: str
) -> None:
    clock = ManualClock()
    config = desk_config(fake, database_url, approve="always", holding_delay=0)
    async with desk_bot(config, clock) as service:
        fake.send_text(CUSTOMER, CUSTOMER, "hello")
        draft = await the_draft(fake)
        unseen = fake.messages(CUSTOMER)
        press(fake, draft, "Send")
        press(fake, draft, "Send")
        await fake.wait_for(lambda: len(fake.callback_answers) >= 2, ANSWER_TIMEOUT)
        # Recorded once Telegram took it.
        stored = await wait_for_status(service.database, CUSTOMER, 1)
        decision = await Approvals(service.database).for_message(stored[0].id)

    assert unseen == []
    assert fake.drafts(CUSTOMER) == []
    assert [m.text for m in fake.messages(CUSTOMER)] == [f"😐 {REPLY}"]
    assert [(row.role, row.status) for row in stored] == [
        ("user", "answered"),
        ("assistant", "answered"),
    ]
    assert decision is not None
    assert (decision.decision, decision.operator_id, decision.sent_text) == (
        "sent",
        OPERATOR,
        f"😐 {REPLY}",
    )
    assert decision.decided_at == clock.now
    assert "Already decided" in (fake.callback_answers[-1].text or "")


async def test_edit_sends_the_operators_text_instead(fake: FakeTelegram, database_url: str) -> None:
    config = desk_config(fake, database_url, approve="negative", holding_delay=0)
    async with desk_bot(config, ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "glad to be here")
        fake.send_text(CUSTOMER, CUSTOMER, "sad my parcel is late")
        draft = await the_draft(fake)
        press(fake, draft, "Edit")
        await fake.wait_for(
            lambda: [m for m in fake.messages(FORUM) if "corrected reply" in m.text], ANSWER_TIMEOUT
        )
        fake.send_text(
            FORUM,
            OPERATOR,
            "So sorry! It arrives tomorrow.",
            message_thread_id=draft.message_thread_id,
        )
        texts = await customer_gets(fake, 2)
        # The answer is recorded just after Telegram took it.
        stored = await wait_for_status(service.database, CUSTOMER, 2)
        (complaint,) = [row for row in stored if row.text == "sad my parcel is late"]
        decision = await Approvals(service.database).for_message(complaint.id)

    assert texts == [f"😄 {REPLY}", "😢 So sorry! It arrives tomorrow."]
    assert decision is not None and decision.decision == "edited"
    assert stored[-1].text == "😢 So sorry! It arrives tomorrow."
    assert "operator" not in [row.role for row in stored]


async def test_discard_sends_nothing_and_leaves_the_message_to_the_team(
    fake: FakeTelegram, database_url: str
) -> None:
    config = desk_config(fake, database_url, approve="always", holding_delay=0)
    async with desk_bot(config, ManualClock()) as service:
        fake.send_text(CUSTOMER, CUSTOMER, "hello")
        press(fake, await the_draft(fake), "Discard")
        await fake.wait_for(
            lambda: [m for m in fake.messages(FORUM) if "Discarded" in m.text], ANSWER_TIMEOUT
        )
        stored = await rows(service.database, CUSTOMER)
        decision = await Approvals(service.database).for_message(stored[0].id)

    assert fake.messages(CUSTOMER) == []
    assert [row.status for row in stored] == ["human"]
    assert decision is not None and decision.decision == "discarded"


async def test_the_customer_sees_typing_and_a_holding_note(
    fake: FakeTelegram, database_url: str
) -> None:
    config = desk_config(fake, database_url, approve="always", holding_delay=0.3)
    async with desk_bot(config, ManualClock()):
        fake.send_text(CUSTOMER, CUSTOMER, "hello")
        draft = await the_draft(fake)
        [note] = await customer_gets(fake, 1)
        press(fake, draft, "Send")
        texts = await customer_gets(fake, 2)

    assert note == TEXTS["holding"]["en"]
    assert texts == [note, f"😐 {REPLY}"]
    assert fake.chat_actions(CUSTOMER)


async def test_a_draft_waits_across_a_restart_and_is_not_written_again(
    fake: FakeTelegram, database_url: str
) -> None:
    config = desk_config(fake, database_url, approve="always", holding_delay=0)
    engine = RecordingEngine()
    async with desk_bot(config, ManualClock(), engine):
        fake.send_text(CUSTOMER, CUSTOMER, "hello")
        draft = await the_draft(fake)
    async with desk_bot(config, ManualClock(), engine) as service:
        await service.operators.channel.drain()
        press(fake, draft, "Send")
        texts = await customer_gets(fake, 1)

    assert texts == [f"😐 {REPLY}"]
    assert len(engine.histories) == 1
    assert len([m for m in fake.messages(FORUM) if m.text.startswith("📝 Draft")]) == 1


async def test_an_edit_asked_for_before_a_restart_is_taken_after_it(
    fake: FakeTelegram, database_url: str
) -> None:
    config = desk_config(fake, database_url, approve="always", holding_delay=0)
    async with desk_bot(config, ManualClock()):
        fake.send_text(CUSTOMER, CUSTOMER, "hello")
        draft = await the_draft(fake)
        press(fake, draft, "Edit")
        await fake.wait_for(
            lambda: [m for m in fake.messages(FORUM) if "corrected reply" in m.text], ANSWER_TIMEOUT
        )
    async with desk_bot(config, ManualClock()) as service:
        fake.send_text(
            FORUM, OPERATOR, "Hello Ann, welcome!", message_thread_id=draft.message_thread_id
        )
        texts = await customer_gets(fake, 1)
        stored = await wait_for_status(service.database, CUSTOMER, 1)

    assert texts == ["😐 Hello Ann, welcome!"]
    assert [(row.role, row.text) for row in stored][-1] == ("assistant", "😐 Hello Ann, welcome!")


async def test_a_decision_the_bot_stopped_before_delivering_is_delivered_once_at_restart(
    fake: FakeTelegram, database_url: str
) -> None:
    config = desk_config(fake, database_url, approve="always", holding_delay=0)
    async with desk_bot(config, ManualClock()) as service:
        fake.send_text(CUSTOMER, CUSTOMER, "hello")
        await the_draft(fake)
        [message] = await rows(service.database, CUSTOMER)
    # As if the process had stored Send and died before Telegram got the reply.
    database = Database(database_url)
    await database.connect()
    try:
        approvals = Approvals(database)
        approval = await approvals.for_message(message.id)
        assert approval is not None
        await approvals.decide(approval.id, "sent", OPERATOR, approval.draft, ManualClock().now)
    finally:
        await database.close()
    async with desk_bot(config, ManualClock()) as service:
        texts = await customer_gets(fake, 1)
        stored = await wait_for_status(service.database, CUSTOMER, 1)

    assert texts == [f"😐 {REPLY}"]
    assert [(row.role, row.status) for row in stored] == [
        ("user", "answered"),
        ("assistant", "answered"),
    ]


def stopped_holding(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "no longer holding" in r.getMessage()]


@pytest.mark.parametrize("stop", ["takeover", "forget", "decided elsewhere", "bound"])
async def test_the_typing_and_holding_loop_stops(
    fake: FakeTelegram,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    stop: str,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.operators.holding")
    monkeypatch.setattr("bot.operators.holding.TYPING_EVERY", 0.05)
    monkeypatch.setattr("bot.operators.holding.HOLD_AT_MOST", 0.5 if stop == "bound" else 600.0)
    config = desk_config(fake, database_url, approve="always", holding_delay=0)
    async with desk_bot(config, ManualClock()) as service:
        fake.send_text(CUSTOMER, CUSTOMER, "hello")
        draft = await the_draft(fake)
        if stop == "takeover":
            fake.send_text(FORUM, OPERATOR, "Olga here.", message_thread_id=draft.message_thread_id)
        elif stop == "forget":
            fake.send_text(CUSTOMER, CUSTOMER, "/forget")
            [confirm] = await fake.wait_for_messages(CUSTOMER, 1, timeout=ANSWER_TIMEOUT)
            fake.press_button(CUSTOMER, CUSTOMER, confirm.message_id, f"forget:yes:{CUSTOMER}")
        elif stop == "decided elsewhere":
            [message] = await rows(service.database, CUSTOMER)
            approvals = Approvals(service.database)
            approval = await approvals.for_message(message.id)
            assert approval is not None
            await approvals.decide(approval.id, "discarded", OPERATOR, None, ManualClock().now)
        [line] = await wait_for_async(
            lambda: _async(stopped_holding(caplog)), what="the loop to stop"
        )

    assert line.endswith(
        {
            "takeover": "taken over by an operator",
            "forget": "the customer was forgotten",
            "decided elsewhere": "decided",
            "bound": "held for 0 minutes, the most it is held",
        }[stop]
    )


async def _async(value: list[str]) -> list[str]:
    return value
