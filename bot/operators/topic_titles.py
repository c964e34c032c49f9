"""A customer's forum topic title: mood now, its trend, who, what their newest message wants
(where triage read it) and what the complaint is about, e.g.
"😢↘ Ann (@ann) · returns · refund, late"."""

from __future__ import annotations

from collections.abc import Sequence

from bot.formatting import shorten
from engine.vocabulary import MOOD_EMOJI, MoodLabel
from storage.desk import CustomerSummary

# Telegram allows 128 UTF-16 units; counted in characters, room is left for emoji (two units).
MAX_TITLE = 112
# How many earlier moods the newest is compared with.
TREND_WINDOW = 3
_SCORE: dict[MoodLabel, int] = {"positive": 1, "neutral": 0, "negative": -1}


def trend_arrow(moods: Sequence[MoodLabel]) -> str:
    """↗, ↘ or → from the newest mood against the average of the ones before it (newest first);
    nothing before a second mood."""
    if len(moods) < 2:
        return ""
    earlier = [_SCORE[label] for label in moods[1 : TREND_WINDOW + 1]]
    newest, before = _SCORE[moods[0]], sum(earlier) / len(earlier)
    if newest > before:
        return "↗"
    if newest < before:
        return "↘"
    return "→"


def topic_title(summary: CustomerSummary) -> str:
    who = f"{summary.name} (@{summary.username})" if summary.username else summary.name
    head = f"{MOOD_EMOJI[summary.moods[0]]}{trend_arrow(summary.moods)} " if summary.moods else ""
    tail = f" · {summary.intent}" if summary.intent else ""
    # Last, so that a title over the limit loses keywords before anything else.
    tail += f" · {', '.join(summary.keywords)}" if summary.keywords else ""
    return shorten(f"{head}{who}{tail}", MAX_TITLE)
