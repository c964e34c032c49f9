"""The numbers of a mood report as text: the same words in Telegram, the digest and the CLI."""

from __future__ import annotations

from collections.abc import Sequence

from engine.vocabulary import MOOD_EMOJI, SHOWN_ORDER
from storage.mood_stats import DayMoods, IntentMoods, MoodStats


def period_text(stats: MoodStats) -> str:
    if stats.first_day == stats.last_day:
        return f"{stats.first_day:%a %Y-%m-%d} ({stats.time_zone})"
    return f"{stats.first_day:%Y-%m-%d} – {stats.last_day:%Y-%m-%d} ({stats.time_zone})"


def no_messages_text(stats: MoodStats) -> str:
    return f"No tagged messages in {period_text(stats)}."


def _share(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def _counts(moods: DayMoods | MoodStats) -> str:
    return " · ".join(f"{MOOD_EMOJI[label]} {moods.count(label)}" for label in SHOWN_ORDER)


def summary_text(stats: MoodStats) -> str:
    """One line: the period's totals and its share of negative messages."""
    return f"{stats.total} messages: {_counts(stats)} · {_share(stats.negative_share)} negative"


def day_lines(stats: MoodStats) -> list[str]:
    """One line per day, oldest first, days without messages included."""
    return [
        f"{day.day:%a %m-%d}: {day.total} · {_counts(day)} · {_share(day.negative_share)} negative"
        for day in stats.days
    ]


def report_text(stats: MoodStats) -> str:
    """The numbers under the chart: totals, then every day."""
    return "\n".join([f"Moods {period_text(stats)}", summary_text(stats), "", *day_lines(stats)])


def intent_line(row: IntentMoods) -> str:
    """E.g. "returns: 23 messages, 61% negative"."""
    messages = "message" if row.total == 1 else "messages"
    return f"{row.intent}: {row.total} {messages}, {row.negative_share:.0%} negative"


def intent_lines(intents: Sequence[IntentMoods]) -> list[str]:
    """What customers wanted in a period: a heading and one line per intent, most messages
    first; nothing at all for a period without a message with an intent (triage off)."""
    if not intents:
        return []
    return ["By intent (what customers wanted):", *(intent_line(row) for row in intents)]
