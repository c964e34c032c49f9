"""Scoring grounded replies: covered questions answered right, uncovered ones handed off with
no invented number. The question file is JSONL: `question`, `covered`, and for covered ones
`expect_any` (a right answer contains one of them, compared case-insensitively)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.knowledge.numbers import invented_numbers


class QuestionFileError(ValueError):
    """The question file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Question:
    question: str
    covered: bool
    expect_any: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    question: str
    answer: str
    covered: bool
    right: bool
    invented_number: bool
    handed_off: bool
    # The statement(s) the answer rests on (for a hand-off, the closest one picked).
    evidence: tuple[str, ...] = ()
    # For a covered question: whether the picked statement holds a right answer.
    pick_right: bool = False

    @property
    def wrong(self) -> bool:
        """Answered (not handed off) and not right: what must almost never happen."""
        return not self.handed_off and not self.right


def read_questions(path: Path) -> list[Question]:
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QuestionFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("question"), str):
            raise QuestionFileError(f"{path}:{number}: expected an object with a string 'question'")
        covered = record.get("covered")
        expect = record.get("expect_any", [])
        if not isinstance(covered, bool):
            raise QuestionFileError(f"{path}:{number}: 'covered' must be true or false")
        if not isinstance(expect, list) or not all(isinstance(item, str) for item in expect):
            raise QuestionFileError(f"{path}:{number}: 'expect_any' must be a list of strings")
        if covered and not expect:
            raise QuestionFileError(f"{path}:{number}: a covered question needs 'expect_any'")
        questions.append(Question(record["question"], covered, tuple(expect)))
    if not questions:
        raise QuestionFileError(f"{path}: no questions")
    return questions


def _holds(text: str, question: Question) -> bool:
    lowered = text.casefold()
    return any(word.casefold() in lowered for word in question.expect_any)


def judge(
    question: Question,
    answer: str,
    handed_off: bool,
    facts: str,
    evidence: tuple[str, ...] = (),
) -> Outcome:
    return Outcome(
        question=question.question,
        answer=answer,
        covered=question.covered,
        right=question.covered and not handed_off and _holds(answer, question),
        invented_number=bool(invented_numbers(answer, [facts, question.question])),
        handed_off=handed_off,
        evidence=evidence,
        pick_right=question.covered and any(_holds(text, question) for text in evidence),
    )


def totals(outcomes: list[Outcome]) -> dict[str, int]:
    covered = [outcome for outcome in outcomes if outcome.covered]
    uncovered = [outcome for outcome in outcomes if not outcome.covered]
    return {
        "covered": len(covered),
        "covered_right": sum(outcome.right for outcome in covered),
        "covered_wrong": sum(outcome.wrong for outcome in covered),
        "covered_handed_off": sum(outcome.handed_off for outcome in covered),
        "covered_pick_right": sum(outcome.pick_right for outcome in covered),
        "uncovered": len(uncovered),
        "uncovered_invented_number": sum(outcome.invented_number for outcome in uncovered),
        "uncovered_handed_off": sum(outcome.handed_off for outcome in uncovered),
    }


def report(outcomes: list[Outcome]) -> dict[str, object]:
    return {
        **totals(outcomes),
        "questions": [
            {
                "question": outcome.question,
                "answer": outcome.answer,
                "covered": outcome.covered,
                "right": outcome.right,
                "invented_number": outcome.invented_number,
                "handed_off": outcome.handed_off,
                "wrong": outcome.wrong,
                "picked": list(outcome.evidence),
            }
            for outcome in outcomes
        ],
    }


def summary(outcomes: list[Outcome]) -> str:
    counts = totals(outcomes)
    return "\n".join(
        [
            f"covered questions answered right: {counts['covered_right']} of {counts['covered']}",
            f"covered questions answered wrong: {counts['covered_wrong']} of {counts['covered']}",
            "covered questions whose picked statement holds the answer: "
            f"{counts['covered_pick_right']} of {counts['covered']}",
            "uncovered questions with an invented number: "
            f"{counts['uncovered_invented_number']} of {counts['uncovered']}",
            f"uncovered questions handed off: {counts['uncovered_handed_off']} of "
            f"{counts['uncovered']}",
        ]
    )
