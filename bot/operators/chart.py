"""The mood chart: tagged messages per day stacked by mood, with the negative share on top;
beside it, where the period's messages have intents ([triage]), the negative share per intent
as bars labelled with their counts.

Rendered with matplotlib's object-oriented API and its Agg renderer (no pyplot, so no GUI
backend and no global figure state); callers run it off the event loop.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence

from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from bot.operators.report import period_text
from storage.mood_stats import IntentMoods, MoodStats

# Bottom to top, so that the negative bars share a baseline and compare at a glance.
STACK = (("negative", "#d9534f"), ("neutral", "#9e9e9e"), ("positive", "#5cb85c"))
SHARE_COLOUR = "#8b0000"
INTENT_COLOUR = "#d9534f"
MOOD_SIZE = (9, 4.8)
# With the intents beside it: the mood chart keeps its width, the intents get 5 inches more.
WITH_INTENTS_SIZE = (14, 4.8)

# matplotlib's font cache and text layout are shared between threads and not documented as
# thread-safe; charts are rare, so rendering one at a time costs nothing.
_rendering = threading.Lock()


def render_mood_chart(stats: MoodStats, intents: Sequence[IntentMoods] = ()) -> bytes:
    """The chart as PNG bytes, with the intents of the same period beside it where there are
    any; ValueError for a period without messages (there is nothing to draw, and callers say
    so in words instead)."""
    if stats.is_empty:
        raise ValueError(f"no tagged messages in {period_text(stats)}")
    with _rendering:
        figure = mood_figure(stats, intents)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()


def mood_figure(stats: MoodStats, intents: Sequence[IntentMoods] = ()) -> Figure:
    """The chart as a matplotlib figure: one bar container per mood, the share as a line; with
    `intents`, their chart to the right (figure.axes: moods, share, intents)."""
    if not intents:
        figure = Figure(figsize=MOOD_SIZE, dpi=100, layout="constrained")
        _draw_moods(figure, stats)
        return figure
    figure = Figure(figsize=WITH_INTENTS_SIZE, dpi=100, layout="constrained")
    moods, by_intent = figure.subfigures(
        1, 2, width_ratios=[MOOD_SIZE[0], WITH_INTENTS_SIZE[0] - MOOD_SIZE[0]]
    )
    _draw_moods(moods, stats)
    _draw_intents(by_intent, intents)
    return figure


def _draw_moods(figure: Figure | SubFigure, stats: MoodStats) -> None:
    axes = figure.add_subplot()
    positions = list(range(len(stats.days)))
    bottoms = [0] * len(stats.days)
    for label, colour in STACK:
        heights = [day.count(label) for day in stats.days]
        axes.bar(positions, heights, bottom=bottoms, color=colour, label=label, width=0.8)
        bottoms = [below + height for below, height in zip(bottoms, heights, strict=True)]
    axes.set_ylabel("messages")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    step = max(1, math.ceil(len(stats.days) / 15))
    axes.set_xticks(
        positions[::step],
        [f"{day.day:%m-%d}" for day in stats.days][::step],
        rotation=45 if len(stats.days) > 10 else 0,
    )

    share = axes.twinx()
    # A day without messages has no share: NaN leaves a gap instead of a misleading 0 %.
    shares = [math.nan if day.negative_share is None else day.negative_share for day in stats.days]
    share.plot(positions, shares, color=SHARE_COLOUR, marker="o", label="negative share")
    share.set_ylim(0, 1.05)
    share.yaxis.set_major_formatter(PercentFormatter(1.0))
    share.set_ylabel("negative share")

    handles, labels = axes.get_legend_handles_labels()
    share_handles, share_labels = share.get_legend_handles_labels()
    figure.legend(
        handles[::-1] + share_handles,
        labels[::-1] + share_labels,
        loc="outside lower center",
        ncols=4,
        fontsize=9,
        frameon=False,
    )
    axes.set_title(f"Moods per day, {period_text(stats)}")


def _draw_intents(figure: Figure | SubFigure, intents: Sequence[IntentMoods]) -> None:
    """One horizontal bar per intent, most messages on top: its negative share, labelled with
    the negative and all messages it counts."""
    axes = figure.add_subplot()
    positions = list(range(len(intents)))
    bars = axes.barh(
        positions,
        [row.negative_share for row in intents],
        color=INTENT_COLOUR,
        height=0.7,
        label="negative share",
    )
    axes.bar_label(
        bars,
        labels=[f"{row.negative} of {row.total}" for row in intents],
        padding=3,
        fontsize=9,
    )
    axes.set_yticks(positions, [row.intent for row in intents])
    axes.invert_yaxis()
    # Room right of a 100 % bar for its label.
    axes.set_xlim(0, 1.3)
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_xlabel("negative share")
    # The period is in the mood chart's title beside it.
    axes.set_title("Negative share by intent")
