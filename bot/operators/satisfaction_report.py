"""The satisfaction figures in words, for /moodstats, the daily digest and `moodbot report`."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from storage import Database
from storage.mood_stats import local_days
from storage.ratings import GOOD_SCORE, RatingStats, rating_stats


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def satisfaction_lines(stats: RatingStats) -> list[str]:
    if stats.asked == 0 and stats.handoffs_answered == 0:
        return ["Satisfaction: no conversation ended in this period."]
    lines = ["Satisfaction:"]
    if stats.rated and stats.average is not None and stats.response_rate is not None:
        lines.append(
            f"  ratings: ⭐ {stats.average:.1f} average from {stats.rated} "
            f"({stats.response_rate:.0%} of {stats.asked} asked)"
        )
    else:
        lines.append(f"  ratings: none yet ({stats.asked} asked)")
    if stats.first_human_answer_seconds is not None:
        lines.append(
            f"  first human answer after a hand-off: median "
            f"{_duration(stats.first_human_answer_seconds)} ({stats.handoffs_answered} answered)"
        )
    if stats.recovery_rate is not None:
        lines.append(
            f"  recovered: {stats.recovered} of {stats.opened_negative} conversations that opened "
            f"negative ended positive or rated ≥ {GOOD_SCORE} ({stats.recovery_rate:.0%})"
        )
    return lines


async def satisfaction_for_days(
    database: Database, first: date, last: date, zone: ZoneInfo
) -> list[str]:
    """The figures of the local days `first` to `last`, both included."""
    stats = await rating_stats(database, *local_days(first, last, zone))
    return satisfaction_lines(stats)
