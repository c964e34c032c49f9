"""The satisfaction figures as /moodstats, the digest and `moodbot report` print them."""

from bot.operators.satisfaction_report import satisfaction_lines
from storage.ratings import RatingStats


def test_every_figure_is_told() -> None:
    stats = RatingStats(
        asked=10,
        rated=4,
        average=4.25,
        handoffs_answered=3,
        first_human_answer_seconds=390.0,
        opened_negative=3,
        recovered=2,
    )

    assert satisfaction_lines(stats) == [
        "Satisfaction:",
        "  ratings: ⭐ 4.2 average from 4 (40% of 10 asked)",
        "  first human answer after a hand-off: median 6 min (3 answered)",
        "  recovered: 2 of 3 conversations that opened negative ended positive or rated ≥ 4 (67%)",
    ]
