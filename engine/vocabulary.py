"""The mood vocabulary every part of moodbot speaks: the three labels and their emoji.

The engine decides moods in these words, storage checks and keeps them, the bot shows them.
Only the standard library is imported here, so that storage and the OpenAI-compatible backend
can use the words without loading torch.
"""

from __future__ import annotations

from typing import Literal, get_args

MoodLabel = Literal["positive", "negative", "neutral"]
MOOD_LABELS: tuple[MoodLabel, ...] = get_args(MoodLabel)

MOOD_EMOJI: dict[MoodLabel, str] = {"positive": "😄", "negative": "😢", "neutral": "😐"}

# How lists, buttons and charts put the moods side by side: happiest first.
SHOWN_ORDER: tuple[MoodLabel, ...] = ("positive", "neutral", "negative")


def mood_label(word: str) -> MoodLabel | None:
    """`word` as a mood label, or None if it is not one."""
    return next((label for label in MOOD_LABELS if label == word), None)


# Intents are a team's own words ([triage] intents): lower-case names like "order_status".
INTENT_NAME_LENGTH = 32
INTENT_NAME_PATTERN = r"[a-z][a-z0-9_]{0,31}"
