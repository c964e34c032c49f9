"""The bot's answers in words, for /moodstats, the daily digest and `moodbot report`: how many
rest on the facts, how many went to a person, and the error rate the operators' flags give."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from storage import Database
from storage.answer_flags import AnswerStats, answer_stats
from storage.mood_stats import local_days


def answer_lines(stats: AnswerStats) -> list[str]:
    if stats.answered == 0 and stats.handed_off == 0:
        return ["Answers: none in this period."]
    lines = [
        f"Answers: {stats.answered} by the bot ({stats.from_facts} from the facts), "
        f"{stats.handed_off} handed to a person"
    ]
    if stats.error_rate is not None:
        lines.append(
            f"  flagged wrong by operators: {stats.flagged} of {stats.answered} "
            f"({stats.error_rate:.1%} error rate)"
        )
    return lines


async def answers_for_days(
    database: Database, first: date, last: date, zone: ZoneInfo
) -> list[str]:
    """The figures of the local days `first` to `last`, both included."""
    stats = await answer_stats(database, *local_days(first, last, zone))
    return answer_lines(stats)
