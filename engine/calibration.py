"""Fitting a language's neutral threshold to labels people gave: the threshold under which the
model's polar label becomes neutral, chosen where the model agrees with them most often."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.mood_decision import decide_mood
from engine.prompts import MoodCalibration
from engine.vocabulary import MoodLabel

# Thresholds tried: 0.50 (never neutral) to 0.99 in steps of 0.01.
GRID = tuple(round(0.5 + step / 100, 2) for step in range(50))


@dataclass(frozen=True)
class Fit:
    threshold: float
    agreement: float


def agreement_at(
    probabilities: Sequence[dict[str, float]],
    labels: Sequence[MoodLabel],
    threshold: float,
    neutral_word_floor: float = 1.0,
) -> float:
    """How often the mood decided at `threshold` agrees with `labels`.

    `probabilities` are a Mood's own: the prompt's negative lean is already in them, so only
    its neutral-word floor is applied again.
    """
    calibration = MoodCalibration(neutral_word_floor=neutral_word_floor)
    hits = sum(
        decide_mood(p, threshold, calibration).label == label
        for p, label in zip(probabilities, labels, strict=True)
    )
    return hits / len(labels)


def fit_threshold(
    probabilities: Sequence[dict[str, float]],
    labels: Sequence[MoodLabel],
    current: float,
    neutral_word_floor: float = 1.0,
) -> Fit:
    """The threshold that agrees best with `labels`; on a tie, the one nearest `current`, so
    that too few examples do not move it for nothing."""
    if not labels:
        raise ValueError("no labels to fit a threshold to")
    scored = [
        (agreement_at(probabilities, labels, t, neutral_word_floor), -abs(t - current), t)
        for t in GRID
    ]
    best, _, threshold = max(scored)
    return Fit(threshold, best)
