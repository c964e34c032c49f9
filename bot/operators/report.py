"""The numbers of a mood report as text: the same words in Telegram, the digest and the CLI."""

from __future__ import annotations

from engine.vocabulary import MOOD_EMOJI, SHOWN_ORDER
from storage.mood_stats import DayMoods, MoodStats


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
