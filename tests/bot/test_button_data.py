"""Button data is written and read by its layout alone: anything else is None, never an error."""

from __future__ import annotations

import pytest

from bot.button_data import (
    CALLBACK_DATA_LIMIT,
    CHAT_ID,
    LARGEST_ID,
    ROW_ID,
    ButtonLayout,
    OneOf,
    OrNone,
    WholeNumber,
)

LAYOUT = ButtonLayout(
    "sample", (CHAT_ID, ROW_ID, OneOf(("yes", "no")), OrNone(WholeNumber(1, 5))), ("smp",)
)


def test_what_is_written_reads_back() -> None:
    data = LAYOUT.write(-1001234567890, 7, "yes", None)
    assert data == "sample:-1001234567890:7:yes:-"
    assert LAYOUT.read(data) == (-1001234567890, 7, "yes", None)
    assert LAYOUT.read("smp:5:1:no:3") == (5, 1, "no", 3)


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        ":",
        "sample",
        "sample:",
        "sample:1:2:yes",
        "sample:1:2:yes:3:4",
        "other:1:2:yes:3",
        "samplex:1:2:yes:3",
        "sample:0:2:yes:3",  # no chat has id 0
        "sample:1:0:yes:3",
        "sample:1:-2:yes:3",
        "sample:1:2:maybe:3",
        "sample:1:2:YES:3",
        "sample:1:2:yes:6",
        "sample:1:2:yes:",
        "sample:1:2:yes:+3",
        "sample:1:2:yes: 3",
        "sample:1:2:yes:3.0",
        "sample:1:2:yes:0x3",
        "sample:1:2:yes:\u0663",  # an Arabic-Indic 3: isdigit() and int() accept it
        "sample:1:2:yes:³",
        f"sample:{LARGEST_ID + 1}:2:yes:3",
        f"sample:1:{'9' * 40}:yes:3",
        "sample:1:2:yes:--",
        "sample:1:2:yes:3\n",
    ],
)
def test_anything_else_reads_as_none(data: str | None) -> None:
    assert LAYOUT.read(data) is None


def test_the_pattern_takes_every_press_of_the_kind_and_no_other() -> None:
    import re

    pattern = re.compile(LAYOUT.pattern)
    assert all(pattern.match(d) for d in ("sample", "sample:", "sample:x", "smp:1:2"))
    assert not any(pattern.match(d) for d in ("samples:1", "sm:1", "", "x:sample"))


def test_writing_refuses_what_could_not_be_read_back() -> None:
    with pytest.raises(ValueError):
        LAYOUT.write(1, 2, "perhaps", None)
    with pytest.raises(ValueError, match="64 bytes"):
        ButtonLayout("x" * CALLBACK_DATA_LIMIT, (ROW_ID,)).write(1)
