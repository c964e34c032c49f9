"""Deciding a mood from the label words' probabilities: the same rule for the local model and
an inference server, with nothing of torch or transformers (a server deployment loads neither)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from engine.prompts import MoodCalibration
from engine.types import Intent, Mood
from engine.vocabulary import MoodLabel

UNCALIBRATED = MoodCalibration()

# Long messages are cut to their head and tail: the mood rarely hides in the middle, and the
# cost of a forward pass grows with every token.
MAX_TEXT_TOKENS = 256


def decide_mood(
    probabilities: Mapping[str, float],
    neutral_threshold: float,
    calibration: MoodCalibration = UNCALIBRATED,
) -> Mood:
    """The mood from the softmax over a prompt's label words.

    Neutral when the neutral label word (if the prompt has one) reaches its floor, or when the
    more likely polar word, after the calibration's lean, falls short of the threshold.
    """
    neutral_word = probabilities.get("neutral", 0.0)
    log_odds = (
        _log(probabilities["positive"])
        - _log(probabilities["negative"])
        - calibration.negative_lean
    )
    positive = 1.0 / (1.0 + math.exp(-log_odds))
    shown = {"positive": positive, "negative": 1.0 - positive}
    if "neutral" in probabilities:
        shown["neutral"] = neutral_word
    if neutral_word >= calibration.neutral_word_floor:
        return Mood("neutral", neutral_word, shown)
    label: MoodLabel = "positive" if positive >= 0.5 else "negative"
    top = shown[label]
    if top < neutral_threshold:
        return Mood("neutral", 1.0 - abs(2.0 * top - 1.0), shown)
    return Mood(label, top, shown)


def _log(probability: float) -> float:
    # A float32 softmax can round a hopeless label to exactly zero.
    return math.log(max(probability, 1e-30))


def decide_intent(probabilities: Mapping[str, float]) -> Intent | None:
    """The most probable intent (None when none was read), its probability renormalised over
    the intents (a label read in pieces may leave a little mass elsewhere)."""
    if not probabilities:
        return None
    total = sum(probabilities.values())
    name = max(probabilities, key=lambda intent: probabilities[intent])
    return Intent(name, probabilities[name] / total if total > 0 else 0.0)
