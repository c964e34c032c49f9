"""Answer from the picked statement, or hand the message to a colleague: several signals, one score.

The pick alone separates answerable from unanswerable questions poorly ("How much does the AC-12
cost?" picks the AC-12 sentence with confidence), so the score also weighs the focused check of
the picked statement and what the statement lacks: a product code the message names, a price the
message asks for. `python -m bench.knowledge_decision --fit` prints the curve of these weights
and of weights fitted by logistic regression on the sample company and the dev companies (219
questions, int4). Alone, each signal separates a right pick from a wrong one weakly (AUC: margin
0.73, best 0.71, the focused check 0.68, BM25 match 0.60); the hand-set weights below, with
strong vetoes, did as well as the fitted ones or better wherever wrong answers are rare. At the
default threshold, of covered questions 29 % are answered from the right statement and 0.7 %
from a wrong one (the rest handed off), and 89 % of uncovered ones are handed off: wrong
answers far rarer than hand-offs of answerable questions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from engine.knowledge.evidence import Pick
from engine.knowledge.statements import Statement

# A product code: letters, a dash and digits (AC-12, RC-30, KF-8, EB-20, X2000).
_CODE = re.compile(r"\b[A-Za-z]{1,4}-?\d{1,5}[A-Za-z]?\b")
_ASKS_PRICE = re.compile(
    r"\b(?:price|prices|priced|cost|costs|costing|expensive|cheap|cheaper|fee|fees)\b|"
    r"\bhow much (?:is|are|does|do|for|will|would)\b(?!.*\b(?:hold|weigh|weighs|water|"
    r"capacity|fit|carry|take|last)\b)|多少钱|价格|价钱|售价|几块钱|多少元|贵不贵|贵吗|收费|费用",
    re.IGNORECASE,
)
_MONEY = re.compile(
    r"\d[\d,.]*\s*(?:yuan|rmb|cny|usd|eur|dollars?|元|块)|[¥$€]\s*\d|免费|\bfree\b", re.IGNORECASE
)

# The score's weights (bench/knowledge_decision.py compares them with fitted ones).
WEIGHTS = {
    "bias": -3.6,
    "best": 3.0,
    "margin": 1.5,
    "none": -2.5,
    "match": 1.0,
    "verified": 2.0,
    "outside": -1.0,
    "missing_name": -6.0,
    "missing_price": -6.0,
}
# Answer when the score's probability reaches this (config key knowledge.answer_threshold).
DEFAULT_THRESHOLD = 0.75


def codes(text: str) -> set[str]:
    return {code.upper().replace("-", "") for code in _CODE.findall(text)}


@dataclass(frozen=True)
class Signals:
    best: float
    margin: float
    none: float
    outside: float
    # The best statement's BM25 match with the message, relative to the best match of any.
    match: float
    # The focused yes/no check: does the best statement answer the message?
    verified: float
    missing_name: bool
    missing_price: bool

    def features(self) -> dict[str, float]:
        return {
            "best": self.best,
            "margin": self.margin,
            "none": self.none,
            "match": self.match,
            "verified": self.verified,
            "outside": self.outside,
            "missing_name": float(self.missing_name),
            "missing_price": float(self.missing_price),
        }

    @property
    def score(self) -> float:
        """The chance, by the fitted weights, that the statement answers the message."""
        total = WEIGHTS["bias"] + sum(
            WEIGHTS[name] * value for name, value in self.features().items()
        )
        return 1.0 / (1.0 + math.exp(-total))


def signals(pick: Pick, question: str, statement: Statement, match: float) -> Signals:
    best = max(pick.probabilities, default=0.0)
    return Signals(
        best=best,
        margin=pick.margin,
        none=pick.none,
        outside=pick.outside,
        match=match,
        verified=pick.verified,
        missing_name=bool(codes(question) - codes(statement.text)),
        missing_price=bool(_ASKS_PRICE.search(question)) and not _MONEY.search(statement.text),
    )


def answers(found: Signals, threshold: float = DEFAULT_THRESHOLD) -> bool:
    return found.score >= threshold
