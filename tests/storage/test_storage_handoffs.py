"""Hand-offs: a message the facts did not answer is flagged for a colleague, and shown so."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.cli.operators import log_row
from bot.operators.handoff_alerts import handoff_text
from bot.operators.log_view import HANDOFF_MARK, entry_line
from storage import CustomerInfo, Database, Store
from storage.mood_log import MoodFilter, MoodLog

ANN = CustomerInfo(id=7_000_000_001, name="Ann", username="ann_k", language="en")
HANDED_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")


async def test_a_handed_off_message_keeps_the_flag_reason_and_time(store: Store) -> None:
    question, _ = await store.record_incoming(ANN.id, ANN, "How much is the AC-12?", 10)
    other, _ = await store.record_incoming(ANN.id, ANN, "thanks", 11)

    flagged = await store.mark_handed_off(question.id, "the facts do not answer it", HANDED_AT)

    assert (flagged.needs_human, flagged.handoff_reason, flagged.handed_off_at) == (
        True,
        "the facts do not answer it",
        HANDED_AT,
    )
    assert await store.get_message(question.id) == flagged
    untouched = await store.get_message(other.id)
    assert untouched is not None
    assert (untouched.needs_human, untouched.handoff_reason, untouched.handed_off_at) == (
        False,
        None,
        None,
    )


async def test_the_mood_log_shows_the_hand_off(db: Database, store: Store) -> None:
    question, _ = await store.record_incoming(ANN.id, ANN, "Do you sell dishwashers?", 10)
    answered, _ = await store.record_incoming(ANN.id, ANN, "Open on Sunday?", 11)
    for message in (question, answered):
        await store.set_mood(message.id, "neutral", 0.8)
    await store.mark_handed_off(question.id, "the facts do not answer it", HANDED_AT)

    newest, oldest = await MoodLog(db).entries(MoodFilter())

    assert (oldest.needs_human, oldest.handoff_reason) == (True, "the facts do not answer it")
    assert not newest.needs_human
    assert HANDOFF_MARK in entry_line(oldest, ZONE)
    assert HANDOFF_MARK not in entry_line(newest, ZONE)
    assert log_row(oldest, ZONE)["needs_human"] is True
    assert log_row(oldest, ZONE)["handoff_reason"] == "the facts do not answer it"
    assert log_row(newest, ZONE)["needs_human"] is False
    notice = handoff_text(oldest, [], ZONE)
    assert "Needs a human: the facts do not answer it" in notice
    assert "Do you sell dishwashers?" in notice
