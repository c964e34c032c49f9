"""The evidence pick and the answer-or-hand-off decision, measured on the knowledge dev sets.

Run: .venv/bin/python -m bench.knowledge_decision [--dtype int4] [--fit] [--signals out.json]

For the sample company (../shared/data/knowledge) and the dev companies (tests/data/knowledge),
each question goes through the product's own steps without writing a reply: the candidates'
group, the model's pick, the decision's signals. Printed as one JSON object:
- retrieval: recall@k of BM25 (a statement holding an expected answer among the first k);
- pick: per company, covered questions whose picked statement holds a right answer;
- asks: how often the "does it ask anything" reading lets a question through (it must, nearly
  always: a question read as a mere feeling gets a reply without facts);
- curve: for each threshold of the decision's score, covered answered right, covered answered
  wrong (the statement does not hold the answer), uncovered answered (all wrong), hand-offs;
- with --fit: logistic weights fitted on these signals (the target: answering gives a right
  answer), and the same curve under them; paste them into engine/knowledge/decision.py.
A covered question counts as right when its picked statement holds one of its expected words,
the reply writer's own errors aside (`moodbot eval-knowledge` measures whole answers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.config import EngineConfig, KnowledgeConfig, SamplingConfig
from engine.knowledge.answering import ASKS_THRESHOLD
from engine.knowledge.base import KnowledgeBase
from engine.knowledge.decision import WEIGHTS, Signals, signals
from engine.knowledge.evaluation import Question, read_questions
from engine.knowledge.retrieval import StatementIndex
from engine.language import detect_language
from engine.mood_engine import MoodEngine

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "data" / "knowledge"
DEV = ROOT / "tests" / "data" / "knowledge"
SENTIMENT = ROOT.parent / "shared" / "data"
RECALL_AT = (1, 3, 5, 8)
# Reviews from the mood dev sets: feelings and opinions, almost never a question to us.
REVIEWS_PER_LANGUAGE = 40
THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 20))


@dataclass(frozen=True)
class Case:
    company: str
    question: Question
    found: Signals | None
    pick_right: bool
    asks: float
    seconds: float


def companies() -> list[tuple[str, Path, Path]]:
    found = []
    for folder in (SAMPLE, DEV):
        for facts in sorted(folder.glob("*_facts.md")):
            name = facts.name.removesuffix("_facts.md")
            found.append((name, facts, folder / f"{name}_questions.jsonl"))
    return found


def holds(text: str, question: Question) -> bool:
    return any(word.casefold() in text.casefold() for word in question.expect_any)


def recall(index: StatementIndex, question: Question) -> int | None:
    """The rank (from 1) of the first statement BM25 ranks that holds a right answer."""
    for rank, (statement, _) in enumerate(index.ranked(question.question, 50), start=1):
        if holds(statement.context, question):
            return rank
    return None


async def measure(
    engine: MoodEngine, name: str, facts: Path, questions: Path
) -> tuple[list[Case], list[int | None]]:
    knowledge = KnowledgeBase(KnowledgeConfig(facts))
    index = StatementIndex(knowledge.current.statements)
    cases: list[Case] = []
    ranks: list[int | None] = []
    for question in read_questions(questions):
        language = detect_language(question.question)
        if question.covered:
            ranks.append(recall(index, question))
        group = knowledge.candidates_for(question.question, language)
        started = time.perf_counter()
        pick = await engine.pick(language, group, question.question)
        seconds = time.perf_counter() - started
        best = pick.best
        found = None
        right = False
        if best is not None:
            statement, _ = best
            found = signals(
                pick, question.question, statement, knowledge.match(question.question, statement)
            )
            right = question.covered and holds(statement.text, question)
        cases.append(Case(name, question, found, right, pick.asks, seconds))
    return cases, ranks


def score(features: dict[str, float], weights: dict[str, float]) -> float:
    total = weights["bias"] + sum(weights[name] * value for name, value in features.items())
    return 1.0 / (1.0 + math.exp(-total))


def curve(cases: list[Case], weights: dict[str, float]) -> list[dict[str, float]]:
    covered = [case for case in cases if case.question.covered]
    uncovered = [case for case in cases if not case.question.covered]
    rows = []

    def answered(case: Case, threshold: float) -> bool:
        return (
            case.asks >= ASKS_THRESHOLD
            and case.found is not None
            and score(case.found.features(), weights) >= threshold
        )

    for threshold in THRESHOLDS:
        right = sum(answered(case, threshold) and case.pick_right for case in covered)
        wrong = sum(answered(case, threshold) and not case.pick_right for case in covered)
        invented = sum(answered(case, threshold) for case in uncovered)
        rows.append(
            {
                "threshold": threshold,
                "covered_right": round(right / len(covered), 3),
                "covered_wrong": round(wrong / len(covered), 3),
                "covered_handed_off": round((len(covered) - right - wrong) / len(covered), 3),
                "uncovered_handed_off": round(1 - invented / len(uncovered), 3),
                # What the operating point trades: every answer that is wrong, over all answers.
                "precision": round(right / max(1, right + wrong + invented), 3),
            }
        )
    return rows


def fit(cases: list[Case], rounds: int = 4000, l2: float = 0.01) -> dict[str, float]:
    """Logistic regression (gradient descent, a little L2) of "answering is right"."""
    usable = [case for case in cases if case.found is not None]
    names = list(usable[0].found.features()) if usable else []  # type: ignore[union-attr]
    x = np.array([[case.found.features()[name] for name in names] for case in usable])  # type: ignore[union-attr]
    y = np.array([float(case.pick_right) for case in usable])
    x = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x.shape[1])
    for _ in range(rounds):
        p = 1 / (1 + np.exp(-x @ w))
        gradient = x.T @ (p - y) / len(y) + l2 * np.r_[0, w[1:]]
        w -= 0.5 * gradient
    return {
        "bias": round(float(w[0]), 2),
        **{n: round(float(v), 2) for n, v in zip(names, w[1:], strict=True)},
    }


def reviews() -> list[str]:
    texts = []
    for language in ("zh", "en"):
        path = SENTIMENT / f"{language}_sentiment_dev.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()[:REVIEWS_PER_LANGUAGE]
        texts += [json.loads(line)["text"] for line in lines]
    return [text for text in texts if "?" not in text and "？" not in text]


async def asks_of(engine: MoodEngine, texts: list[str]) -> list[float]:
    return [(await engine.pick(detect_language(text), [], text)).asks for text in texts]


def asks_table(questions: list[float], others: list[float]) -> list[dict[str, float]]:
    """For each threshold: questions let through to the pick, reviews kept from it."""
    return [
        {
            "threshold": threshold,
            "questions_asking": round(sum(a >= threshold for a in questions) / len(questions), 3),
            "reviews_not_asking": round(sum(a < threshold for a in others) / len(others), 3),
        }
        for threshold in (0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95)
    ]


async def run(dtype: str, do_fit: bool, out: Path | None) -> dict[str, object]:
    config = EngineConfig(dtype=dtype, sampling=SamplingConfig(temperature=0.0))  # type: ignore[arg-type]
    engine = MoodEngine.load(replace(config, knowledge=None))
    cases: list[Case] = []
    per_company: dict[str, object] = {}
    all_ranks: list[int | None] = []
    try:
        for name, facts, questions in companies():
            found, ranks = await measure(engine, name, facts, questions)
            cases += found
            all_ranks += ranks
            covered = [case for case in found if case.question.covered]
            per_company[name] = {
                "covered": len(covered),
                "pick_right": sum(case.pick_right for case in covered),
                "uncovered": len(found) - len(covered),
            }
        review_asks = await asks_of(engine, reviews())
    finally:
        engine.close()
    questions_asking = [case.asks >= ASKS_THRESHOLD for case in cases]
    result: dict[str, object] = {
        "dtype": dtype,
        "questions": len(cases),
        "retrieval_recall_at": {
            str(k): round(sum(r is not None and r <= k for r in all_ranks) / len(all_ranks), 3)
            for k in RECALL_AT
        },
        "pick": per_company,
        "read_as_asking": round(sum(questions_asking) / len(cases), 3),
        "asks": asks_table([case.asks for case in cases], review_asks),
        "pick_seconds_median": round(float(np.median([case.seconds for case in cases])), 3),
        "curve": curve(cases, WEIGHTS),
    }
    if do_fit:
        fitted = fit(cases)
        result["fitted_weights"] = fitted
        result["fitted_curve"] = curve(cases, fitted)
    if out is not None:
        out.write_text(
            json.dumps(
                [
                    {
                        "company": case.company,
                        "question": case.question.question,
                        "covered": case.question.covered,
                        "pick_right": case.pick_right,
                        "asks": round(case.asks, 3),
                        "signals": case.found.features() if case.found else None,
                    }
                    for case in cases
                ],
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="int4", choices=("bf16", "int4"))
    parser.add_argument("--fit", action="store_true", help="fit the decision's weights")
    parser.add_argument("--signals", type=Path, help="write each question's signals here")
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(run(arguments.dtype, arguments.fit, arguments.signals)), indent=1))


if __name__ == "__main__":
    main()
