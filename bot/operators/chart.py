"""The mood chart: tagged messages per day stacked by mood, with the negative share on top.

Rendered with matplotlib's object-oriented API and its Agg renderer (no pyplot, so no GUI
backend and no global figure state); callers run it off the event loop.
"""

from __future__ import annotations

import io
import math
import threading

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from bot.operators.report import period_text
from storage.mood_stats import MoodStats

# Bottom to top, so that the negative bars share a baseline and compare at a glance.
STACK = (("negative", "#d9534f"), ("neutral", "#9e9e9e"), ("positive", "#5cb85c"))
SHARE_COLOUR = "#8b0000"

# matplotlib's font cache and text layout are shared between threads and not documented as
# thread-safe; charts are rare, so rendering one at a time costs nothing.
_rendering = threading.Lock()


def render_mood_chart(stats: MoodStats) -> bytes:
    """The chart as PNG bytes; ValueError for a period without messages (there is nothing to
    draw, and callers say so in words instead)."""
    if stats.is_empty:
        raise ValueError(f"no tagged messages in {period_text(stats)}")
    with _rendering:
        figure = mood_figure(stats)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()


def mood_figure(stats: MoodStats) -> Figure:
    """The chart as a matplotlib figure: one bar container per mood, the share as a line."""
    figure = Figure(figsize=(9, 4.8), dpi=100, layout="constrained")
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
    return figure
