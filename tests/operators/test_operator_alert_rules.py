"""When a tagged message alerts the operators: confidence threshold and negative streaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import OperatorsConfig
from bot.operators.alerts import alert_reasons, alert_text, correction_keyboard, negative_streak
from engine.types import Mood
from engine.vocabulary import MoodLabel
from storage.mood_log import Correction, MoodLogEntry

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def log_of(*labels: MoodLabel, corrected: dict[int, MoodLabel] | None = None) -> list[MoodLogEntry]:
    """A customer's log, newest first, from labels given oldest first."""
    corrected = corrected or {}
    entries = [
        MoodLogEntry(
            message_id=index + 1,
            chat_id=42,
            customer_id=42,
            customer_name="Ann",
            customer_username="ann",
            text=f"message {index + 1}",
            created_at=START + timedelta(minutes=index),
            model_label=label,
            model_confidence=0.8,
            correction=Correction(corrected[index], 7, START) if index in corrected else None,
        )
        for index, label in enumerate(labels)
    ]
    return entries[::-1]


CONFIG = OperatorsConfig(alert_confidence=0.9, alert_streak=3)


@pytest.mark.parametrize(
    ("mood", "alerts"),
    [
        (Mood("negative", 0.95), True),
        (Mood("negative", 0.90), False),  # "above" the threshold, not at it
        (Mood("negative", 0.5), False),
        (Mood("positive", 0.99), False),
        (Mood("neutral", 0.99), False),
    ],
)
def test_confidence_threshold(mood: Mood, alerts: bool) -> None:
    reasons = alert_reasons(mood, log_of("positive", mood.label), CONFIG)
    assert bool(reasons) is alerts
    if alerts:
        assert reasons == ["negative at 95% confidence (alerts above 90%)"]


def test_the_streak_alerts_once_when_it_reaches_its_length() -> None:
    quiet = Mood("negative", 0.6)
    labels: list[MoodLabel] = ["positive"]
    fired = []
    for _ in range(5):
        labels.append("negative")
        fired.append(alert_reasons(quiet, log_of(*labels), CONFIG))

    assert fired == [[], [], ["3 negative messages in a row"], [], []]


def test_a_streak_at_the_start_of_the_log_counts() -> None:
    reasons = alert_reasons(
        Mood("negative", 0.6), log_of("negative", "negative", "negative"), CONFIG
    )
    assert reasons == ["3 negative messages in a row"]


def test_both_reasons_together() -> None:
    reasons = alert_reasons(
        Mood("negative", 0.99), log_of("negative", "negative", "negative"), CONFIG
    )
    assert len(reasons) == 2


def test_a_correction_breaks_a_streak() -> None:
    entries = log_of("negative", "negative", "negative", corrected={1: "neutral"})
    assert negative_streak(entries) == 1
    assert alert_reasons(Mood("negative", 0.6), entries, CONFIG) == []


def test_zero_turns_streaks_off_and_one_never_alerts_on_confidence() -> None:
    off = OperatorsConfig(alert_confidence=1.0, alert_streak=0)
    assert alert_reasons(Mood("negative", 1.0), log_of(*["negative"] * 6), off) == []


def test_the_alert_shows_the_message_its_context_and_correction_buttons() -> None:
    entries = log_of("positive", "neutral", "negative")
    text = alert_text(entries[0], entries[1:], ["3 negative messages in a row"], ZoneInfo("UTC"))

    lines = text.splitlines()
    assert lines[0] == "⚠️ Mood alert: 3 negative messages in a row"
    assert lines[1] == "Customer: Ann (@ann, 42) · chat 42"
    assert "😢 80%: message 3" in text
    context = lines[lines.index("Before that (oldest first):") + 1 :]
    assert [line.rsplit(" · ", 1)[1] for line in context] == ["message 1", "message 2"]
    [buttons] = correction_keyboard(3).inline_keyboard
    assert [(b.text, b.callback_data) for b in buttons] == [
        ("correct: 😄 positive", "correct-mood:3:positive"),
        ("correct: 😐 neutral", "correct-mood:3:neutral"),
        ("correct: 😢 negative", "correct-mood:3:negative"),
    ]
