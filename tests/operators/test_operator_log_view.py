"""/moodlog's arguments and its paging buttons."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.button_data import CALLBACK_DATA_LIMIT
from bot.config import MAX_INTENTS
from bot.operators.log_view import (
    FORMER_PAGE_BUTTON,
    PAGE_PATTERN,
    LogArguments,
    decode_page,
    encode_page,
    entry_line,
    page_keyboard,
    page_text,
    parse_arguments,
    usage,
)
from engine.config import DEFAULT_INTENTS
from storage.mood_log import Correction, MoodFilter, MoodLogEntry, MoodLogPage

INTENTS = tuple(DEFAULT_INTENTS)


@pytest.mark.parametrize(
    ("arguments", "parsed"),
    [
        ([], LogArguments()),
        (["negative"], LogArguments(label="negative")),
        (["7d", "Positive"], LogArguments(label="positive", period=timedelta(days=7))),
        (["@ann", "24h"], LogArguments(period=timedelta(hours=24), username="ann")),
        (["42", "neutral", "30d"], LogArguments("neutral", timedelta(days=30), 42)),
    ],
)
def test_arguments_in_any_order(arguments: list[str], parsed: LogArguments) -> None:
    assert parse_arguments(arguments) == parsed


@pytest.mark.parametrize("argument", ["angry", "@", "7w", "-3"])
def test_unknown_arguments_are_named(argument: str) -> None:
    with pytest.raises(ValueError, match=f"understand '{argument}'"):
        parse_arguments(["negative", argument])


@pytest.mark.parametrize(
    ("arguments", "parsed"),
    [
        (["returns"], LogArguments(intent="returns")),
        (
            ["7d", "Order_Status", "negative"],
            LogArguments("negative", timedelta(days=7), intent="order_status"),
        ),
        (
            ["@ann", "payment", "24h"],
            LogArguments(period=timedelta(hours=24), username="ann", intent="payment"),
        ),
    ],
)
def test_a_configured_intent_is_an_argument(arguments: list[str], parsed: LogArguments) -> None:
    assert parse_arguments(arguments, INTENTS) == parsed


@pytest.mark.parametrize(
    ("argument", "intents"),
    [("refunds", INTENTS), ("returns", ()), ("returns", ("shipping", "other"))],
)
def test_a_word_naming_no_configured_intent_is_refused(
    argument: str, intents: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=f"understand '{argument}'"):
        parse_arguments(["7d", argument], intents)


def test_the_usage_names_the_configured_intents() -> None:
    assert usage() == "Usage: /moodlog [negative|positive|neutral] [24h|7d|30d] [@user or id]"
    assert usage(("returns", "other")) == f"{usage()} [returns|other]"


def test_a_page_button_carries_the_whole_listing() -> None:
    mood_filter = MoodFilter(
        label="negative",
        since=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        customer_id=7_000_000_001,
        up_to_message_id=1234,
    )
    assert decode_page(encode_page(mood_filter, 3)) == (mood_filter, 3)
    everything = MoodFilter(up_to_message_id=0)
    assert decode_page(encode_page(everything, 0)) == (everything, 0)
    for intent in INTENTS:
        with_intent = replace(mood_filter, intent=intent)
        assert decode_page(encode_page(with_intent, 3, INTENTS), INTENTS) == (with_intent, 3)


def test_the_longest_page_button_fits_telegrams_limit() -> None:
    # Telegram user ids have at most 52 significant bits; messages.id is a 32-bit INTEGER.
    # The longest intent name is 32 characters: the button carries its place, not its name.
    intents = tuple(f"{n:x}".rjust(32, "i") for n in range(MAX_INTENTS))
    longest = MoodFilter(
        label="negative",
        since=datetime(2286, 1, 1, tzinfo=UTC),
        customer_id=2**52,
        intent=intents[-1],
        up_to_message_id=2**31 - 1,
    )
    data = encode_page(longest, 9999, intents)
    assert len(data.encode()) <= CALLBACK_DATA_LIMIT
    assert decode_page(data, intents) == (longest, 9999)


def test_a_listing_button_posted_before_intents_still_pages() -> None:
    data = FORMER_PAGE_BUTTON.write(2, "negative", 1714566600, 42, 1234)
    since = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    listing = MoodFilter(label="negative", since=since, customer_id=42, up_to_message_id=1234)

    assert data == "mlog:2:negative:1714566600:42:1234"
    assert decode_page(data, INTENTS) == (listing, 2)
    assert re.match(PAGE_PATTERN, data) and re.match(PAGE_PATTERN, encode_page(listing, 2))


def test_an_intent_no_longer_configured_is_refused() -> None:
    data = encode_page(MoodFilter(intent="other", up_to_message_id=5), 1, INTENTS)

    assert decode_page(data, INTENTS[:3]) is None
    assert decode_page(data, ()) is None


def test_an_intent_beyond_the_configured_ones_is_never_written() -> None:
    with pytest.raises(ValueError):
        encode_page(MoodFilter(intent="refunds"), 0, INTENTS)


@pytest.mark.parametrize(
    "data",
    [
        "mlog:1:angry:-:-:5",
        "mfix:1:negative",
        "mlog:x:-:-:-:5",
        "mlog:1:-:-:-:5:0",
        "mlg:1:-:-:-:5",
        "mlg:1:-:-:-:5:16",
        "mlg:1:-:-:-:5:returns",
        "mlg:1:-:-:-:5:-1",
    ],
)
def test_foreign_button_data_is_refused(data: str) -> None:
    assert decode_page(data, INTENTS) is None


ZONE = ZoneInfo("UTC")
ENTRY = MoodLogEntry(
    message_id=7,
    chat_id=100_001,
    customer_id=100_001,
    customer_name="Ann",
    customer_username="ann_k",
    text="I want my money back",
    created_at=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    model_label="negative",
    model_confidence=0.91,
)


@pytest.mark.parametrize(
    ("intent", "shown"),
    [
        ({}, "😢 91% · I want"),
        (
            {"model_intent": "returns", "model_intent_confidence": 0.84},
            "😢 91% · 🏷 returns 84% · I want",
        ),
        (
            {
                "model_intent": "shipping",
                "model_intent_confidence": 0.61,
                "intent_correction": "returns",
            },
            "😢 91% · 🏷 shipping 61% → ✍️ returns · I want",
        ),
        ({"intent_correction": "returns"}, "😢 91% · 🏷 ✍️ returns · I want"),
    ],
)
def test_an_entry_line_shows_the_intent_and_its_correction(
    intent: dict[str, object], shown: str
) -> None:
    line = entry_line(replace(ENTRY, **intent), ZONE)  # type: ignore[arg-type]

    assert line.startswith("05-01 12:30 · Ann (@ann_k, 100001) · ")
    assert shown in line


def test_an_entry_line_keeps_the_mood_correction_and_hand_off_beside_the_intent() -> None:
    entry = replace(
        ENTRY,
        correction=Correction("neutral", 1, ENTRY.created_at),
        handoff_reason="the facts do not answer it",
        model_intent="returns",
        model_intent_confidence=0.5,
    )

    assert "😢 91% → ✍️ 😐 · 🏷 returns 50% · 🙋 needs a human · I want" in entry_line(entry, ZONE)


def test_a_page_names_its_intent_and_its_buttons_carry_it() -> None:
    listing = MoodFilter(intent="returns", up_to_message_id=99)
    entries = [replace(ENTRY, model_intent="returns", model_intent_confidence=0.8)] * 10
    page = MoodLogPage(entries, 25, listing)

    text = page_text(page, 1, ZONE)
    keyboard = page_keyboard(page, 1, INTENTS)

    header, summary = text.splitlines()[:2]
    assert header == "Mood log · 🏷 returns"
    assert summary.endswith("🙋 = handed to a colleague; 🏷 = what the customer wants)")
    assert keyboard is not None
    [[newer, older]] = keyboard.inline_keyboard
    assert decode_page(newer.callback_data, INTENTS) == (listing, 0)  # type: ignore[arg-type]
    assert decode_page(older.callback_data, INTENTS) == (listing, 2)  # type: ignore[arg-type]


def test_a_page_without_intents_reads_as_before() -> None:
    page = MoodLogPage([ENTRY], 1, MoodFilter(up_to_message_id=7))

    header, summary = page_text(page, 0, ZONE).splitlines()[:2]

    assert header == "Mood log"
    assert summary.endswith("✍️ = corrected by an operator; 🙋 = handed to a colleague)")
    assert "🏷" not in page_text(page, 0, ZONE)
