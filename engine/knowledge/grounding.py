"""The facts a reply is grounded in, and the verdict on what the model wrote from them.

A reply goes to the customer only when the model answered (did not write the silent mark),
was not too likely to have wanted to (the hand-off gate on its first token), and every number
in it stands in the facts or the conversation (the number guard). A reply failing the guard is
written once more with a stricter note; failing again, or silent, it becomes the hand-off
sentence and the message is flagged for a colleague.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from engine.config import KnowledgeConfig
from engine.knowledge.facts import load_facts
from engine.knowledge.live_data import asks_live_data
from engine.knowledge.numbers import invented_numbers
from engine.knowledge.prompts import (
    FOCUS_HEADINGS,
    HANDOFF_REPLIES,
    SILENT_MARK,
    STRICTER_NOTES,
    grounded_prefix,
    grounded_tail,
)
from engine.knowledge.retrieval import FactsIndex
from engine.language import Language
from engine.prompts import MOOD_CUES
from engine.reply_text import FALLBACKS
from engine.types import Turn
from engine.vocabulary import MoodLabel

log = logging.getLogger(__name__)

_SILENT = re.compile(rf"^\W*{SILENT_MARK}\b")

# How many of the best-matching sections are repeated right before the conversation, when the
# whole file is in the prompt: a small model answers from nearby text far more reliably.
FOCUS_SECTIONS = 2

# A reply of this many words (Han characters count one each) or fewer is written again.
TERSE_WORDS = 3

REASON_LIVE_DATA = "asks for live data (an order's state, stock) that the facts cannot hold"
REASON_SILENT = "the facts do not answer it"
REASON_NUMBER = "the reply twice stated a number not in the facts"
REASON_UNUSABLE = "the model wrote no usable answer from the facts"


class KnowledgeBase:
    """The facts file, loaded and indexed; `reload()` swaps in a re-read file atomically."""

    def __init__(self, config: KnowledgeConfig, count_tokens: Callable[[str], int]) -> None:
        self.config = config
        self._count_tokens = count_tokens
        self.index = self._load()

    def _load(self) -> FactsIndex:
        return FactsIndex(
            load_facts(self.config.file), self.config.budget_tokens, self._count_tokens
        )

    def reload(self) -> FactsIndex:
        """Re-read the file; on a FactsError the facts in use stay as they were."""
        self.index = self._load()
        log.info(
            "facts reloaded from %s: %d sections, %d tokens",
            self.config.file,
            len(self.index.facts.sections),
            self.index.tokens,
        )
        return self.index

    def system_prompt(
        self, language: Language, mood: MoodLabel, question: str, *, stricter: bool = False
    ) -> str:
        """Persona and facts first (a constant prefix per language when the file is whole),
        then what depends on the message."""
        index = self.index
        selection = index.select(question)
        focus = index.best(question, FOCUS_SECTIONS) if selection.whole else ()
        prefix = grounded_prefix(language, selection.text)
        focus_text = "\n\n".join(section.text for section in focus)
        tail = grounded_tail(language, MOOD_CUES[language][mood], focus_text, stricter)
        return f"{prefix}\n\n{tail}"

    def system_text(self, language: Language, question: str) -> str:
        """The local engine's system turn: persona and facts, the same for every message of a
        language when the file goes in whole (its keys and values are then computed once)."""
        return grounded_prefix(language, self.index.select(question).text)

    def reply_note(self, language: Language, question: str, *, stricter: bool = False) -> str:
        """The local engine's note after the customer's message: the sections most relevant
        to it again (when the whole file is in the system turn) and the retry's instruction.
        After the message, so the system turn and the history stay cached."""
        index = self.index
        selection = index.select(question)
        focus = index.best(question, FOCUS_SECTIONS) if selection.whole else ()
        parts = []
        if focus:
            sections = "\n\n".join(section.text for section in focus)
            parts.append(f"{FOCUS_HEADINGS[language]}\n{sections}")
        if stricter:
            parts.append(STRICTER_NOTES[language])
        return "\n\n".join(parts)

    def constant_prefix(self, language: Language) -> str | None:
        """The system prompt's head shared by every reply, when the facts go in whole."""
        index = self.index
        return grounded_prefix(language, index.facts.text) if index.whole else None

    @staticmethod
    def needs_live_data(text: str) -> bool:
        return asks_live_data(text)

    @staticmethod
    def needs_another_try(reply: str, language: Language, mood: MoodLabel) -> bool:
        """The clean-up gave up on the model's text (wrong language, a loop) and put the
        generic fallback in its place, or the reply is too terse: either way the customer's
        question is not answered."""
        return reply == FALLBACKS[language][mood] or KnowledgeBase.too_terse(reply)

    @staticmethod
    def too_terse(reply: str) -> bool:
        """A bare "No." or "可以。": true perhaps, but it tells the customer nothing, and the
        model's short answers are where it most often contradicts the facts."""
        words = re.findall(r"[A-Za-z0-9]+|[\u4e00-\u9fff]", reply)
        return len(words) <= TERSE_WORDS

    def invented(self, reply: str, history: Sequence[Turn], text: str) -> set[str]:
        return invented_numbers(
            reply, [self.index.facts.text, text, *(turn.text for turn in history)]
        )

    def is_silent(self, raw: str, silent_logprob: float | None) -> bool:
        """The model said the facts do not answer, or was close enough to saying so."""
        if _SILENT.match(raw):
            return True
        return silent_logprob is not None and silent_logprob > self.config.handoff_threshold


def handoff_reply(language: Language, mood: MoodLabel) -> str:
    return HANDOFF_REPLIES[language][mood]


class DraftFilter:
    """Passes streamed text on, holding back what could still become the silent mark, so a
    customer's draft never shows it."""

    def __init__(self, forward: Callable[[str], None]) -> None:
        self._forward = forward
        self._held = ""
        self._open = False

    def __call__(self, delta: str) -> None:
        if self._open:
            self._forward(delta)
            return
        self._held += delta
        opening = self._held.lstrip()
        if not (SILENT_MARK.startswith(opening) or opening.startswith(SILENT_MARK)):
            self._open = True
            self._forward(self._held)
