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
    VERIFY_QUESTIONS,
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

    # The prefix cache's key, where the prefix is kept for good (the constant question); None
    # where it is read afresh each time (a message's candidates: the same eight rarely come
    # again, and caching them would push conversations out).
    key: str | None
    prefix_ids: tuple[int, ...]
    branch: Branch


@dataclass(frozen=True)
class PickQuestion:
    """Both readings of one pick: whether the message asks anything, and (with candidates)
    which of them answers it."""

    language: Language
    statements: tuple[Statement, ...]
    asks: LabelPrompt
    choice: LabelPrompt | None
    # Per candidate: the focused check of it, a sibling of the asks branch (same prefix).
    verify: tuple[Branch, ...]
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
    # The chance, by a focused yes/no check, that the best statement answers the message.
    verified: float = 0.0

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


def verify_user_turn(language: Language, item: str, statement: Statement) -> str:
    """The focused check's user turn: the message, then the statement and the question."""
    question = VERIFY_QUESTIONS[language].format(statement=statement.text)
    return f"{MESSAGE_LEADS[language]}{item}\n\n{question}"


def _yes_no(tokenizer: PreTrainedTokenizerBase, language: Language) -> tuple[int, ...]:
    yes, no = YES_NO_WORDS[language]
    return tuple(_single_token(tokenizer, word) for word in (*yes, *no))


def asks_prompt(tokenizer: PreTrainedTokenizerBase, language: Language) -> LabelPrompt:
    prefix, after = _split(tokenizer, ASKS_INSTRUCTIONS[language], asks_user_turn(language, _SLOT))
    branch = Branch(after, _yes_no(tokenizer, language))
    return LabelPrompt(_key("asks", language, prefix), prefix, branch)


def verify_branch(
    tokenizer: PreTrainedTokenizerBase, language: Language, statement: Statement
) -> Branch:
    """What follows the message to check `statement` (after the asks prompt's own prefix)."""
    user = verify_user_turn(language, _SLOT, statement)
    _, after = _split(tokenizer, ASKS_INSTRUCTIONS[language], user)
    return Branch(after, _yes_no(tokenizer, language))


def choice_prompt(
    tokenizer: PreTrainedTokenizerBase, language: Language, statements: Sequence[Statement]
) -> LabelPrompt:
    prefix, after = _split(tokenizer, pick_system(language, statements), _SLOT)
    # Each digit's share of the whole vocabulary: what the model puts elsewhere is hesitation.
    digits = tuple(_single_token(tokenizer, digit) for digit in _DIGITS[: len(statements) + 1])
    branch = Branch(after, digits, whole_vocabulary=True)
    return LabelPrompt(None, prefix, branch)


def pick_question(
    tokenizer: PreTrainedTokenizerBase, language: Language, statements: Sequence[Statement]
) -> PickQuestion:
    return PickQuestion(
        language=language,
        statements=tuple(statements),
        asks=asks_prompt(tokenizer, language),
        choice=choice_prompt(tokenizer, language, statements) if statements else None,
        verify=tuple(verify_branch(tokenizer, language, statement) for statement in statements),
        yes_tokens=len(YES_NO_WORDS[language][0]),
    )


class PickLayout(Protocol):
    statements: tuple[Statement, ...]
    yes_tokens: int


def yes_share(question: PickLayout, answers: Sequence[float]) -> float:
    """The chance of yes among the yes/no words' probabilities (yes first)."""
    values = [float(value) for value in answers]
    return sum(values[: question.yes_tokens]) / (sum(values) or 1.0)


def best_candidate(choice: Sequence[float]) -> int:
    """The index of the candidate the digits' probabilities favour (0 is "none", skipped)."""
    values = [float(value) for value in choice]
    return max(range(1, len(values)), key=values.__getitem__) - 1


def read_pick(
    question: PickLayout,
    choice: Sequence[float] | None,
    asks: Sequence[float],
    verify: Sequence[float] | None = None,
) -> Pick:
    """The pick from the label probabilities of one message: the digits' (0 first, then one
    per candidate; None without candidates), the yes/no words' (yes first) of whether it asks
    anything, and those of the focused check of the best candidate."""
    digits = [float(value) for value in choice] if choice is not None else [1.0]
    if len(digits) != len(question.statements) + 1:
        raise ValueError(
            f"{len(digits)} digit probabilities for {len(question.statements)} candidates"
        )
    total = sum(digits) or 1.0
    return Pick(
        statements=question.statements,
        probabilities=tuple(value / total for value in digits[1:]),
        none=digits[0] / total,
        asks=yes_share(question, asks),
        outside=max(0.0, 1.0 - sum(digits)) if choice is not None else 0.0,
        verified=yes_share(question, verify) if verify is not None else 0.0,
    )
