"""Picking the evidence: which statement of the facts answers a message, read from label logits.

The pick prompt lists the statements of the customer's language, numbered, in a constant prefix
(its keys and values computed once per facts version), then the message. The first answer
token is the statement's number (0: none answers); numbers of two digits are read along a branch
holding their first digit. A sibling branch asks whether the message asks anything at all. One
forward pass over the message's tokens, no decoded token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from engine.knowledge.prompts import ASKS_QUESTIONS, PICK_INSTRUCTIONS
from engine.knowledge.statements import Statement
from engine.label_questions import Branch
from engine.language import Language

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Statements one pick prompt lists at most: numbers up to two digits, and a prefix the model
# still reads well. A larger file is cut into groups of statements that follow each other.
MAX_PICK_STATEMENTS = 60
_SLOT = "\x00MESSAGE\x00"
_DIGITS = tuple(str(digit) for digit in range(10))
YES_NO_WORDS: dict[Language, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("yes", "Yes"), ("no", "No")),
    "zh": (("是",), ("否", "不")),
}


@dataclass(frozen=True)
class PickQuestion:
    """The pick prompt for one list of statements, ready to be read after any message."""

    language: Language
    statements: tuple[Statement, ...]
    prefix_ids: tuple[int, ...]
    branches: tuple[Branch, ...]
    # The first digits whose two-digit numbers have a branch of their own (after branch 0).
    first_digits: tuple[int, ...]
    yes_tokens: int
    key: str


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
    """The pick prompt's system turn: the instructions and the numbered statements."""
    if len(statements) > MAX_PICK_STATEMENTS:
        raise ValueError(f"at most {MAX_PICK_STATEMENTS} statements in one pick")
    system = PICK_INSTRUCTIONS[language]
    return system + "\n\n" + numbered(statements) if statements else system


def first_digits(count: int) -> tuple[int, ...]:
    """The digits that begin a two-digit statement number among `count` statements."""
    return tuple(range(1, count // 10 + 1))


def pick_question(
    tokenizer: PreTrainedTokenizerBase, language: Language, statements: Sequence[Statement]
) -> PickQuestion:
    rendered = tokenizer.apply_chat_template(
        [
            {"role": "system", "content": pick_system(language, statements)},
            {"role": "user", "content": _SLOT},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    prefix, _, answer = rendered.partition(_SLOT)
    end_of_message, _, _ = answer.partition("\n")
    prefix_ids = tuple(tokenizer.encode(prefix, add_special_tokens=False))
    digits = tuple(_single_token(tokenizer, digit) for digit in _DIGITS)
    answer_ids = tuple(tokenizer.encode(answer, add_special_tokens=False))
    branches = [Branch(answer_ids, digits, whole_vocabulary=True)]
    leading = first_digits(len(statements))
    for digit in leading:
        branches.append(Branch((digits[digit],), digits, parent=0, whole_vocabulary=True))
    yes, no = YES_NO_WORDS[language]
    asks = tokenizer.encode(
        f"{end_of_message}\n<|im_start|>user\n{ASKS_QUESTIONS[language]}{answer}",
        add_special_tokens=False,
    )
    branches.append(
        Branch(
            tuple(asks),
            tuple(_single_token(tokenizer, word) for word in (*yes, *no)),
        )
    )
    key = hashlib.sha256(repr(prefix_ids).encode()).hexdigest()[:16]
    return PickQuestion(
        language=language,
        statements=tuple(statements),
        prefix_ids=prefix_ids,
        branches=tuple(branches),
        first_digits=leading,
        yes_tokens=len(yes),
        key=f"pick:{language}:{key}",
    )


class PickLayout(Protocol):
    statements: tuple[Statement, ...]
    first_digits: tuple[int, ...]
    yes_tokens: int


def read_pick(question: PickLayout, row: Sequence[Sequence[float]]) -> Pick:
    """The pick from one item's label probabilities, branch by branch: the first digit's ten
    (whole-vocabulary) probabilities, the second digit's after each two-digit first digit, and
    the yes/no words' (yes first) of whether the message asks anything."""
    first = [float(value) for value in row[0]]
    seconds = {
        digit: [float(value) for value in row[1 + index]]
        for index, digit in enumerate(question.first_digits)
    }
    count = len(question.statements)
    raw: list[float] = []
    for number in range(1, count + 1):
        if number < 10:
            # A lone digit: the answer ends there (no second digit follows it).
            ends = 1.0 - sum(seconds[number]) if number in seconds else 1.0
            raw.append(first[number] * max(ends, 0.0))
        else:
            raw.append(first[number // 10] * seconds[number // 10][number % 10])
    none = first[0]
    total = none + sum(raw) or 1.0
    asks = [float(value) for value in row[-1]]
    yes = sum(asks[: question.yes_tokens]) / (sum(asks) or 1.0)
    return Pick(
        statements=question.statements,
        probabilities=tuple(value / total for value in raw),
        none=none / total,
        asks=yes,
        outside=max(0.0, 1.0 - sum(first)),
    )
