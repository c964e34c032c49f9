"""Value types shared by the engine and its callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine.vocabulary import MOOD_EMOJI, MoodLabel

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Mood:
    """The mood of one message.

    `probabilities` holds the model's softmax over its polar label words (positive, negative);
    `label` is `neutral` when neither clears the configured threshold, and `confidence` is the
    probability that backs the label (for neutral: 1 - |p+ - p-|, high when the two are close).
    """

    label: MoodLabel
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def emoji(self) -> str:
        return MOOD_EMOJI[self.label]


@dataclass(frozen=True)
class Turn:
    """One earlier message of a conversation; a customer's turn may carry the mood it was
    answered with, so the prompt can repeat that turn's mood cue exactly."""

    role: Role
    text: str
    mood: MoodLabel | None = None


class ReplyCancelled(Exception):
    """The reply was stopped before it was finished."""
