"""Value types shared by the engine and its callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from engine.vocabulary import MOOD_EMOJI, MoodLabel

if TYPE_CHECKING:
    from engine.knowledge.statements import Statement

# "operator": a person of the support team wrote to the customer through the bot.
Role = Literal["user", "assistant", "operator"]


@dataclass(frozen=True)
class Intent:
    """What a customer message wants: one of the configured [triage] intents, and the model's
    probability for it among them."""

    name: str
    confidence: float


@dataclass(frozen=True)
class Mood:
    """The mood of one message.

    `probabilities` holds the model's calibrated odds of its polar label words (positive,
    negative; they add up to 1) and, when the prompt has a neutral label word, that word's share
    of the softmax. `label` is `neutral` when the neutral word reaches its floor or neither polar
    word clears the configured threshold, and `confidence` is the probability that backs the
    label (for a neutral band: 1 - |p+ - p-|, high when the two are close).
    """

    label: MoodLabel
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)
    # Read in the same pass as the mood where triage is on; None where it is off.
    intent: Intent | None = None

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

    @property
    def chat_role(self) -> Literal["user", "assistant"]:
        """The role in a chat template, which knows only two speakers: an operator's answer
        reads to the model as one of its own, so it continues in the same voice."""
        return "user" if self.role == "user" else "assistant"


class ReplyCancelled(Exception):
    """The reply was stopped before it was finished."""


@dataclass(frozen=True)
class HandOff:
    """A message the bot passed to a colleague instead of answering it from the facts."""

    reason: str
    question: str


@dataclass(frozen=True)
class GroundedReply:
    """A finished reply: the text the customer receives, the hand-off when there is one, and
    the statements of the facts it rests on (for a hand-off: the closest one, if any)."""

    text: str
    handoff: HandOff | None = None
    evidence: tuple[Statement, ...] = ()
