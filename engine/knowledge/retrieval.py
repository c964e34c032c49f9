"""Which facts a reply sees: the whole file when it fits the budget, else the best sections.

Sections are ranked by BM25 (bm25s) over words: Chinese segmented by jieba, English lowercased
and stemmed (Snowball), so "delivered" finds "delivery" and "寄到西藏" finds "西藏".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import bm25s
import jieba
import numpy as np
import snowballstemmer

from engine.knowledge.facts import Facts, Section

jieba.setLogLevel(logging.WARNING)

_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_STEMMER = snowballstemmer.stemmer("english")
# Words that match nearly every section and question alike.
_STOPWORDS = frozenset(
    re.split(
        r"\s+",
        "a an the is are am was were be do does did i you we it my your our of to in on for at "
        "and or can could will would what when where how which who me us this that with have "
        "has 吗 呢 的 了 是 我 你 们 我们 你们 请问 吧 啊 在 有 和 要",
    )
)


def words(text: str) -> list[str]:
    """The words BM25 compares: jieba's for Chinese runs, stemmed ones for the rest."""
    lowered = text.lower()
    found: list[str] = []
    for match in _WORD.finditer(_HAN_RUN.sub(" ", lowered)):
        found.append(_STEMMER.stemWord(match.group()))
    for run in _HAN_RUN.findall(lowered):
        found.extend(jieba.lcut_for_search(run))
    return [word for word in found if word not in _STOPWORDS]


@dataclass(frozen=True)
class Selection:
    """The facts one reply sees: in order of relevance when retrieved, in file order when whole."""

    sections: tuple[Section, ...]
    whole: bool

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)


class FactsIndex:
    def __init__(
        self, facts: Facts, budget_tokens: int, count_tokens: Callable[[str], int]
    ) -> None:
        self.facts = facts
        self.budget_tokens = budget_tokens
        self._costs = [count_tokens(section.text) for section in facts.sections]
        self.tokens = count_tokens(facts.text)
        self.whole = self.tokens <= budget_tokens
        self._index = bm25s.BM25()
        self._index.index(
            [words(section.text) or ["\x00"] for section in facts.sections], show_progress=False
        )

    def scores(self, question: str) -> np.ndarray:
        query = words(question)
        if not query:
            return np.zeros(len(self.facts.sections))
        return np.asarray(self._index.get_scores(query))

    def ranked(self, question: str) -> list[int]:
        """Section numbers, best match first; sections that share no word with it are left out."""
        scores = self.scores(question)
        order = np.argsort(-scores, kind="stable")
        return [int(i) for i in order if scores[i] > 0]

    def best(self, question: str, count: int) -> tuple[Section, ...]:
        return tuple(self.facts.sections[i] for i in self.ranked(question)[:count])

    def select(self, question: str) -> Selection:
        """The whole file when it fits the budget, else the best sections that fill it."""
        if self.whole:
            return Selection(self.facts.sections, whole=True)
        chosen: list[int] = []
        used = 0
        for number in self.ranked(question):
            if used + self._costs[number] <= self.budget_tokens:
                chosen.append(number)
                used += self._costs[number]
        return Selection(tuple(self.facts.sections[i] for i in chosen), whole=False)
