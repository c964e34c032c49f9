"""The mood chart: a real PNG, drawn from exactly the counts it was given."""

from __future__ import annotations

import io
import math
from datetime import date

import matplotlib.image
import pytest
from matplotlib.container import BarContainer

from bot.operators.chart import mood_figure, render_mood_chart
from bot.operators.report import (
    day_lines,
    intent_lines,
    no_messages_text,
    report_text,
    summary_text,
)
from storage.mood_stats import DayMoods, IntentMoods, MoodStats

WEEK = MoodStats(
    "Asia/Shanghai",
    (
        DayMoods(date(2024, 5, 1), positive=3, neutral=1, negative=1),
        DayMoods(date(2024, 5, 2)),
        DayMoods(date(2024, 5, 3), negative=2),
        DayMoods(date(2024, 5, 4), positive=1, neutral=2, negative=1),
    ),
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_chart_is_a_png_that_decodes() -> None:
    png = render_mood_chart(WEEK)

    assert png.startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    height, width, _ = pixels.shape
    assert (width, height) == (900, 480)


def test_the_bars_stack_each_days_counts_per_mood() -> None:
    figure = mood_figure(WEEK)
    bars, share = figure.axes

    stacks = {
        container.get_label(): [patch.get_height() for patch in container.patches]
        for container in bars.containers
        if isinstance(container, BarContainer)
    }
    assert stacks == {
        "negative": [1, 0, 2, 1],
        "neutral": [1, 0, 0, 2],
        "positive": [3, 0, 0, 1],
    }
    # Stacked: each bar starts where the one below it ends.
    neutral = next(c for c in bars.containers if c.get_label() == "neutral")
    assert [patch.get_y() for patch in neutral.patches] == [1, 0, 2, 1]
    [line] = share.get_lines()
    shares = list(line.get_ydata())
    assert shares[0] == pytest.approx(0.2) and shares[2] == 1.0 and shares[3] == 0.25
    assert math.isnan(shares[1]), "a day without messages has no share, not 0 %"
    assert "2024-05-01 – 2024-05-04 (Asia/Shanghai)" in bars.get_title()


def test_an_empty_period_gets_words_not_a_chart() -> None:
    empty = MoodStats("UTC", (DayMoods(date(2024, 5, 1)), DayMoods(date(2024, 5, 2))))

    with pytest.raises(ValueError, match="no tagged messages"):
        render_mood_chart(empty)
    assert no_messages_text(empty) == "No tagged messages in 2024-05-01 – 2024-05-02 (UTC)."


def test_the_numbers_under_the_chart() -> None:
    assert summary_text(WEEK) == "11 messages: 😄 4 · 😐 3 · 😢 4 · 36% negative"
    assert day_lines(WEEK) == [
        "Wed 05-01: 5 · 😄 3 · 😐 1 · 😢 1 · 20% negative",
        "Thu 05-02: 0 · 😄 0 · 😐 0 · 😢 0 · – negative",
        "Fri 05-03: 2 · 😄 0 · 😐 0 · 😢 2 · 100% negative",
        "Sat 05-04: 4 · 😄 1 · 😐 2 · 😢 1 · 25% negative",
    ]
    assert report_text(WEEK).splitlines()[0] == "Moods 2024-05-01 – 2024-05-04 (Asia/Shanghai)"


INTENTS = [
    IntentMoods("returns", 23, 14),
    IntentMoods("shipping", 8, 0),
    IntentMoods("other", 1, 1),
]


def test_the_intents_chart_stands_beside_the_moods() -> None:
    png = render_mood_chart(WEEK, INTENTS)

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    height, width, _ = pixels.shape
    assert (width, height) == (1400, 480)


def test_each_intent_is_a_bar_of_its_negative_share_labelled_with_its_counts() -> None:
    figure = mood_figure(WEEK, INTENTS)
    moods, _, by_intent = figure.axes

    [bars] = by_intent.containers
    assert isinstance(bars, BarContainer)
    assert [patch.get_width() for patch in bars.patches] == pytest.approx([14 / 23, 0.0, 1.0])
    assert [label.get_text() for label in by_intent.texts] == ["14 of 23", "0 of 8", "1 of 1"]
    # Most messages on top.
    names = [tick.get_text() for tick in by_intent.get_yticklabels()]
    assert names == ["returns", "shipping", "other"]
    assert by_intent.yaxis_inverted()
    assert by_intent.get_title() == "Negative share by intent"
    # The moods' chart beside it is the same as without intents.
    stacks = {c.get_label(): [p.get_height() for p in c.patches] for c in moods.containers}
    assert stacks["negative"] == [1, 0, 2, 1]


def test_without_intents_the_chart_is_the_moods_alone() -> None:
    assert len(mood_figure(WEEK, []).axes) == 2
    assert intent_lines([]) == []


def test_the_numbers_per_intent() -> None:
    assert intent_lines(INTENTS) == [
        "By intent (what customers wanted):",
        "returns: 23 messages, 61% negative",
        "shipping: 8 messages, 0% negative",
        "other: 1 message, 100% negative",
    ]
