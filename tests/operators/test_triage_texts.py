"""What the desk shows of triage, as text and buttons: the intent in a topic's title, beside a
mirrored message, in an alert, /queue grouped by intent, and the intent buttons' rows and data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.button_data import CALLBACK_DATA_LIMIT, LARGEST_ID
from bot.operators.alerts import alert_text, correction_keyboard
from bot.operators.corrections import INTENT_CORRECTED, MOOD_CORRECTED, with_correction
from bot.operators.mirror import customer_line
from bot.operators.queue import MAX_SHOWN, queue_text
from bot.operators.topic_titles import MAX_TITLE, topic_title
from bot.operators.triage import IntentButtons, intent_badge, intent_buttons
from engine.config import DEFAULT_INTENTS, TriageConfig
from engine.types import Intent, Mood
from engine.vocabulary import MoodLabel
from storage.desk import CustomerSummary
from storage.desk_queue import Waiting
from storage.mood_log import MoodLogEntry

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


# --- the topic's title and the mirrored line -------------------------------------------------


def test_the_title_shows_the_intent_before_the_keywords() -> None:
    summary = CustomerSummary("Ann", "ann", ("negative", "neutral"), ("refund", "late"), "returns")
    assert topic_title(summary) == "😢↘ Ann (@ann) · returns · refund, late"
    assert topic_title(replace(summary, keywords=())) == "😢↘ Ann (@ann) · returns"


def test_a_title_without_an_intent_is_unchanged() -> None:
    summary = CustomerSummary("Ann", "ann", ("negative", "neutral"), ("refund", "late"))
    assert topic_title(summary) == "😢↘ Ann (@ann) · refund, late"


def test_a_long_title_loses_keywords_before_the_intent() -> None:
    summary = CustomerSummary(
        "Ann", "ann", ("negative",), tuple(f"keyword{n}" for n in range(20)), "order_status"
    )
    title = topic_title(summary)
    assert len(title) == MAX_TITLE and title.endswith("…")
    assert title.startswith("😢 Ann (@ann) · order_status · keyword0, keyword1")


def test_the_mirrored_line_shows_the_intent_and_its_confidence() -> None:
    mood = Mood("negative", 0.91, intent=Intent("returns", 0.84))
    assert customer_line(mood, "I want my money back") == (
        "😢 91% · 🏷 returns 84% · customer:\nI want my money back"
    )
    assert customer_line(replace(mood, intent=None), "hello") == "😢 91% · customer:\nhello"
    assert intent_badge(Intent("order_status", 0.5)) == "🏷 order_status 50%"


# --- alerts ----------------------------------------------------------------------------------


def entry(
    message_id: int = 3,
    intent: str | None = "returns",
    confidence: float | None = 0.84,
    corrected: str | None = None,
) -> MoodLogEntry:
    return MoodLogEntry(
        message_id=message_id,
        chat_id=42,
        customer_id=42,
        customer_name="Ann",
        customer_username="ann",
        text="the refund never came",
        created_at=START,
        model_label="negative",
        model_confidence=0.97,
        model_intent=intent,
        model_intent_confidence=confidence if intent is not None else None,
        intent_correction=corrected,
    )


def test_the_alert_names_what_the_customer_wants() -> None:
    lines = alert_text(entry(), [], ["negative"], UTC_ZONE).splitlines()
    assert lines[lines.index("😢 97%: the refund never came") + 1] == "🏷 Wants: returns (84%)"


def test_an_alert_shows_the_operators_intent_over_the_models() -> None:
    text = alert_text(entry(corrected="payment"), [], ["negative"], UTC_ZONE)
    assert "🏷 Wants: payment" in text.splitlines() and "returns" not in text


def test_an_alert_without_an_intent_says_nothing_of_intents() -> None:
    text = alert_text(entry(intent=None), [], ["negative"], UTC_ZONE)
    assert "Wants" not in text and "🏷" not in text


# --- the intent buttons ----------------------------------------------------------------------


def test_the_alert_keyboard_has_the_mood_row_then_intents_four_to_a_row() -> None:
    buttons = IntentButtons(TriageConfig())
    rows = correction_keyboard(3, buttons).inline_keyboard
    assert [b.text for b in rows[0]] == [
        "correct: 😄 positive",
        "correct: 😐 neutral",
        "correct: 😢 negative",
    ]
    assert [[b.callback_data for b in row] for row in rows[1:]] == [
        [f"fix-intent:3:{name}" for name in list(DEFAULT_INTENTS)[:4]],
        [f"fix-intent:3:{name}" for name in list(DEFAULT_INTENTS)[4:]],
    ]
    assert [b.text for b in rows[1]][:2] == ["🏷 order_status", "🏷 shipping"]
    # Without intent buttons, the mood row alone.
    assert len(correction_keyboard(3).inline_keyboard) == 1


def test_sixteen_long_intent_names_fit_telegram() -> None:
    names = {f"{chr(ord('a') + n)}{'x' * 31}": "something" for n in range(16)}
    buttons = IntentButtons(TriageConfig(intents=names, handoff_intents=()))
    rows = buttons.keyboard(LARGEST_ID).inline_keyboard
    assert [len(row) for row in rows] == [4, 4, 4, 4]
    data = [button.callback_data for row in rows for button in row]
    assert all(isinstance(d, str) and len(d.encode()) <= CALLBACK_DATA_LIMIT for d in data)
    assert [buttons.layout.read(d) for d in data[:1]] == [(LARGEST_ID, next(iter(names)))]


@pytest.mark.parametrize(
    "data",
    [
        "fix-intent",
        "fix-intent:3",
        "fix-intent:3:refund_now",  # not a configured intent
        "fix-intent:abc:returns",
        "fix-intent:0:returns",
        f"fix-intent:{'9' * 25}:returns",
        "fix-intent:3:returns:1",
        "fix-intent:3:RETURNS",
    ],
)
def test_malformed_intent_data_is_read_as_none(data: str) -> None:
    assert IntentButtons(TriageConfig()).layout.read(data) is None


def test_triage_off_has_no_intent_buttons() -> None:
    assert intent_buttons(None) is None
    assert intent_buttons(TriageConfig()) is not None


def test_a_post_shows_the_latest_correction_of_each_kind() -> None:
    post = "😢 97% · 🏷 returns 84% · customer:\nmy refund"
    mood = with_correction(post, MOOD_CORRECTED, "😐 neutral by Olga")
    both = with_correction(mood, INTENT_CORRECTED, "🏷 payment by Olga")
    again = with_correction(both, MOOD_CORRECTED, "😄 positive by Oskar")
    assert both == f"{post}\n\n✍️ Corrected to 😐 neutral by Olga\n✍️ Intent set to 🏷 payment by Olga"
    assert again == (
        f"{post}\n\n✍️ Corrected to 😄 positive by Oskar\n✍️ Intent set to 🏷 payment by Olga"
    )
    assert with_correction(again, INTENT_CORRECTED, "🏷 shipping by Oskar").splitlines()[-1] == (
        "✍️ Intent set to 🏷 shipping by Oskar"
    )


# --- /queue ----------------------------------------------------------------------------------


def waiting(
    customer_id: int, label: MoodLabel, confidence: float, intent: str | None, waited: int
) -> Waiting:
    return Waiting(
        chat_id=customer_id,
        customer_id=customer_id,
        name=f"C{customer_id}",
        username=None,
        reasons=("handed off",),
        since=START - timedelta(minutes=waited),
        mood_label=label,
        mood_confidence=confidence,
        text=f"text {customer_id}",
        intent=intent,
    )


def sorted_queue(*items: Waiting) -> list[Waiting]:
    """In waiting_for_a_person's order: most negative first, then longest waiting."""
    return sorted(items, key=lambda item: (-item.negativity, item.since))


QUEUE = sorted_queue(
    waiting(1, "negative", 0.6, "returns", 5),
    waiting(2, "negative", 0.9, "shipping", 1),
    waiting(3, "neutral", 0.5, "returns", 30),
    waiting(4, "negative", 0.6, None, 2),
    waiting(5, "positive", 0.9, "shipping", 50),
    waiting(6, "negative", 0.7, "returns", 3),
)


def numbered(text: str) -> list[tuple[int, int]]:
    """(number, customer id) of each numbered line, in order."""
    found = []
    for line in text.splitlines():
        head, _, rest = line.partition(". ")
        if head.isdigit():
            found.append((int(head), int(rest.split("(")[1].split(")")[0])))
    return found


def test_the_queue_groups_by_intent_most_urgent_group_first() -> None:
    text = queue_text(QUEUE, START, {6: "https://t.me/c/1/6"}, by_intent=True)
    lines = text.splitlines()
    headings = [line for line in lines if line.startswith("🏷")]
    assert lines[0] == "Waiting for a person: 6"
    # shipping: C2 at 90% negative; returns: C6 at 70%; no intent: C4 at 60%.
    assert headings == ["🏷 shipping (2)", "🏷 returns (3)", "🏷 no intent (1)"]
    # Numbered straight through; within a group most negative, then longest waiting.
    assert numbered(text) == [(1, 2), (2, 5), (3, 6), (4, 1), (5, 3), (6, 4)]
    # The link follows its conversation.
    assert lines[lines.index(next(line for line in lines if line.startswith("3. "))) + 2] == (
        "   https://t.me/c/1/6"
    )


def test_without_triage_or_any_intent_the_queue_is_one_list() -> None:
    for text in (
        queue_text(QUEUE, START, {}, by_intent=False),
        queue_text([replace(item, intent=None) for item in QUEUE], START, {}, by_intent=True),
    ):
        assert "🏷" not in text and "no intent" not in text
        assert [customer for _, customer in numbered(text)] == [2, 6, 1, 4, 3, 5]


def test_a_long_grouped_queue_shows_the_most_urgent_and_counts_the_rest() -> None:
    many = sorted_queue(
        *(
            waiting(n, "negative", 0.5 + n / 100, ("returns", "shipping", None)[n % 3], n)
            for n in range(1, MAX_SHOWN + 6)
        )
    )
    text = queue_text(many, START, {}, by_intent=True)
    shown = numbered(text)
    assert [number for number, _ in shown] == list(range(1, MAX_SHOWN + 1))
    assert text.splitlines()[-1] == "… and 5 more"
    assert queue_text([], START, {}, by_intent=True) == "Nobody is waiting for a person."
