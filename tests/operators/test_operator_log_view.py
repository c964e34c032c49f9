"""/moodlog's arguments and its paging buttons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.button_data import CALLBACK_DATA_LIMIT
from bot.operators.log_view import (
    LogArguments,
    decode_page,
    encode_page,
    parse_arguments,
)
from storage.mood_log import MoodFilter


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


def test_the_longest_page_button_fits_telegrams_limit() -> None:
    # Telegram user ids have at most 52 significant bits; messages.id is a 32-bit INTEGER.
    longest = MoodFilter(
        label="negative",
        since=datetime(2286, 1, 1, tzinfo=UTC),
        customer_id=2**52,
        up_to_message_id=2**31 - 1,
    )
    assert len(encode_page(longest, 9999).encode()) <= CALLBACK_DATA_LIMIT


@pytest.mark.parametrize("data", ["mlog:1:angry:-:-:5", "mfix:1:negative", "mlog:x:-:-:-:5"])
def test_foreign_button_data_is_refused(data: str) -> None:
    assert decode_page(data) is None
