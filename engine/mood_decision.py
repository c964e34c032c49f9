"""Deciding a mood from the label words' probabilities: the same rule for the local model and
an inference server, with nothing of torch or transformers (a server deployment loads neither)."""

from __future__ import annotations

from engine.types import Mood

# Long messages are cut to their head and tail: the mood rarely hides in the middle, and the
# cost of a forward pass grows with every token.
MAX_TEXT_TOKENS = 256


def decide_mood(probabilities: dict[str, float], neutral_threshold: float) -> Mood:
    """The most probable label, or neutral when it falls short of the threshold."""
    label, top = max(probabilities.items(), key=lambda item: item[1])
    if label == "neutral" or top < neutral_threshold:
        return Mood(
            "neutral", 1.0 - abs(2.0 * top - 1.0) if label != "neutral" else top, probabilities
        )
    return Mood(label, top, probabilities)  # type: ignore[arg-type]
