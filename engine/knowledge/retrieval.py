"""How well statements match a message: BM25 (bm25s) over words, Chinese segmented by jieba,
English lowercased and stemmed (Snowball), so "delivered" finds "delivery" and "寄到西藏" finds
"西藏"; a long English word also counts by its first letters, where the stemmer parts words of
one family ("deliver" → "deliv", "delivery" → "deliveri"). It proposes the candidates the
pick chooses from, and it is one of the signals of the decision to answer or hand off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import bm25s
import jieba
import numpy as np
import snowballstemmer

from engine.knowledge.statements import Statement

jieba.setLogLevel(logging.WARNING)

_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_STEMMER = snowballstemmer.stemmer("english")
# A stem this long also counts by its first letters (marked, so "deliv~" never equals a
# whole word "deliv").
_PREFIX_LETTERS = 5
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
        stem = _STEMMER.stemWord(match.group())
        found.append(stem)
        if len(stem) >= _PREFIX_LETTERS and stem.isalpha():
            found.append(stem[:_PREFIX_LETTERS] + "~")
    for run in _HAN_RUN.findall(lowered):
        found.extend(jieba.lcut_for_search(run))
    return [word for word in found if word not in _STOPWORDS]


class StatementIndex:
    """BM25 over statements with their headings: how well each matches a message."""

    def __init__(self, statements: Sequence[Statement]) -> None:
        self.statements = tuple(statements)
        self._index = bm25s.BM25()
        if self.statements:
            self._index.index(
                [words(statement.context) or ["\x00"] for statement in self.statements],
                show_progress=False,
            )

    def scores(self, text: str) -> np.ndarray:
        query = words(text)
        if not query or not self.statements:
            return np.zeros(len(self.statements))
        return np.asarray(self._index.get_scores(query))

    def ranked(self, text: str, count: int) -> list[tuple[Statement, float]]:
        """The best-matching statements (sharing at least one word), best first."""
        scores = self.scores(text)
        order = np.argsort(-scores, kind="stable")[:count]
        return [(self.statements[i], float(scores[i])) for i in order if scores[i] > 0]
