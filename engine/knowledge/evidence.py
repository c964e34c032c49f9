"""Picking the evidence: which statement of the facts answers a message, read from label logits.

Two label readings of the message, no decoded token:
- whether it asks anything at all (a thank-you or a feeling gets a kind reply without facts):
  a constant prompt (cached once per language) with the message and a yes/no question after it;
- which of the candidates (the statements retrieval ranks first for it, numbered 1 to 8)
  answers it, 0 for none: the first answer token is the number.
Measured on the sample company (bf16): with 8 BM25 candidates the picked statement held the
right answer for 12 of 16 covered questions; with the whole file numbered in one cached prompt,
for 6 of 16 (and 10 % on the dev companies): the 1.5B model loses its way in a long list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from engine.knowledge.prompts import (
    ASKS_INSTRUCTIONS,
    ASKS_QUESTIONS,
    MESSAGE_LEADS,
    PICK_INSTRUCTIONS,
)
from engine.knowledge.statements import Statement
from engine.label_questions import Branch
from engine.language import Language

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Candidates one pick lists at most: each is named by one digit.
MAX_CANDIDATES = 8
_SLOT = "\x00MESSAGE\x00"
_DIGITS = tuple(str(digit) for digit in range(10))
YES_NO_WORDS: dict[Language, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("yes", "Yes"), ("no", "No")),
    "zh": (("是",), ("否", "不")),
}


@dataclass(frozen=True)
class LabelPrompt:
    """A prompt read after any message: its constant prefix and the branch after the message."""

    key: str
    prefix_ids: tuple[int, ...]
    branch: Branch
    # Kept in the prefix cache for good: the constant question (not a message's candidates).
    pinned: bool


@dataclass(frozen=True)
class PickQuestion:
    """Both readings of one pick: whether the message asks anything, and (with candidates)
    which of them answers it."""

    language: Language
    statements: tuple[Statement, ...]
    asks: LabelPrompt
    choice: LabelPrompt | None
    yes_tokens: int


@dataclass(frozen=True)
class Pick:
    """What the model chose: each candidate's probability (with "none"), normalised."""

    statements: tuple[Statement, ...]
    probabilities: tuple[float, ...]
    none: float
    # The chance that the message asks for information at all.
    asks: float
    # Probability mass the first answer token put outside the digits (the model hesitating).
    outside: float

    def ranked(self) -> list[tuple[Statement, float]]:
        order = sorted(range(len(self.statements)), key=lambda i: -self.probabilities[i])
        return [(self.statements[i], self.probabilities[i]) for i in order]

    @property
    def best(self) -> tuple[Statement, float] | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    @property
    def margin(self) -> float:
        """The best statement's lead over the runner-up (or over "none")."""
        ranked = [probability for _, probability in self.ranked()] + [0.0]
        return ranked[0] - max(ranked[1], self.none)


def _single_token(tokenizer: PreTrainedTokenizerBase, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"{text!r} is not a single token for this tokenizer")
    return ids[0]


def numbered(statements: Sequence[Statement]) -> str:
    return "\n".join(
        f"{number}. {statement.text}" for number, statement in enumerate(statements, start=1)
    )


def pick_system(language: Language, statements: Sequence[Statement]) -> str:
    """The choice prompt's system turn: the instructions and the numbered candidates."""
    if not statements or len(statements) > MAX_CANDIDATES:
        raise ValueError(f"a pick lists 1 to {MAX_CANDIDATES} candidates")
    return PICK_INSTRUCTIONS[language] + "\n\n" + numbered(statements)


def asks_user_turn(language: Language, item: str) -> str:
    """The asks prompt's user turn: the message, then the question about it."""
    return f"{MESSAGE_LEADS[language]}{item}\n\n{ASKS_QUESTIONS[language]}"


def _split(
    tokenizer: PreTrainedTokenizerBase, system: str, user: str
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The chat's tokens before the message's slot in `user`, and after it."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": system}, {"role": "user", "content": user}],
        tokenize=False,
        add_generation_prompt=True,
    )
    before, _, after = rendered.partition(_SLOT)
    encode = tokenizer.encode
    return (
        tuple(encode(before, add_special_tokens=False)),
        tuple(encode(after, add_special_tokens=False)),
    )


def _key(kind: str, language: Language, prefix_ids: Sequence[int]) -> str:
    digest = hashlib.sha256(repr(tuple(prefix_ids)).encode()).hexdigest()[:16]
    return f"{kind}:{language}:{digest}"


def asks_prompt(tokenizer: PreTrainedTokenizerBase, language: Language) -> LabelPrompt:
    prefix, after = _split(tokenizer, ASKS_INSTRUCTIONS[language], asks_user_turn(language, _SLOT))
    yes, no = YES_NO_WORDS[language]
    labels = tuple(_single_token(tokenizer, word) for word in (*yes, *no))
    return LabelPrompt(_key("asks", language, prefix), prefix, Branch(after, labels), pinned=True)


def choice_prompt(
    tokenizer: PreTrainedTokenizerBase, language: Language, statements: Sequence[Statement]
) -> LabelPrompt:
    prefix, after = _split(tokenizer, pick_system(language, statements), _SLOT)
    # Each digit's share of the whole vocabulary: what the model puts elsewhere is hesitation.
    digits = tuple(_single_token(tokenizer, digit) for digit in _DIGITS[: len(statements) + 1])
    branch = Branch(after, digits, whole_vocabulary=True)
    return LabelPrompt(_key("pick", language, prefix), prefix, branch, pinned=False)


def pick_question(
    tokenizer: PreTrainedTokenizerBase, language: Language, statements: Sequence[Statement]
) -> PickQuestion:
    return PickQuestion(
        language=language,
        statements=tuple(statements),
        asks=asks_prompt(tokenizer, language),
        choice=choice_prompt(tokenizer, language, statements) if statements else None,
        yes_tokens=len(YES_NO_WORDS[language][0]),
    )


class PickLayout(Protocol):
    statements: tuple[Statement, ...]
    yes_tokens: int


def read_pick(question: PickLayout, choice: Sequence[float] | None, asks: Sequence[float]) -> Pick:
    """The pick from the label probabilities of one message: the digits' (0 first, then one
    per candidate; None without candidates) and the yes/no words' (yes first)."""
    digits = [float(value) for value in choice] if choice is not None else [1.0]
    if len(digits) != len(question.statements) + 1:
        raise ValueError(
            f"{len(digits)} digit probabilities for {len(question.statements)} candidates"
        )
    total = sum(digits) or 1.0
    answers = [float(value) for value in asks]
    return Pick(
        statements=question.statements,
        probabilities=tuple(value / total for value in digits[1:]),
        none=digits[0] / total,
        asks=sum(answers[: question.yes_tokens]) / (sum(answers) or 1.0),
        outside=max(0.0, 1.0 - sum(digits)) if choice is not None else 0.0,
    )
