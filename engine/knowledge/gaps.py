"""Questions grouped by what they ask: the handed-off questions of a period, so operators see
what the facts file lacks, the most frequent first.

Two questions ask the same when most of the words of the shorter one (the words retrieval
compares: jieba's for Chinese, stems for English) are in the other. Each question joins the
group whose common words it shares most, or starts one; a group's common words are those in at
least half of its questions.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from engine.knowledge.retrieval import words

# Of the shorter side's words, the share two questions must have in common to ask the same.
SAME_QUESTION = 0.5
# Words that say a message asks, not what it asks about.
_ASKING = frozenset(
    re.split(
        r"\s+",
        "please hi hello hey there any much many get know want need about if so just also tell "
        "怎么 什么 可以 能 如何 多少 哪些 一下 想 问 请 还 吗 呢 么 怎么样 是否",
    )
)


def asked_words(text: str) -> frozenset[str]:
    """What a question is about, as words (no word prefixes, no asking words)."""
    return frozenset(w for w in words(text) if not w.endswith("~") and w not in _ASKING)


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


class _Group:
    def __init__(self) -> None:
        self.members: list[int] = []
        self.counts: Counter[str] = Counter()

    def add(self, index: int, asked: frozenset[str]) -> None:
        self.members.append(index)
        self.counts.update(asked)

    @property
    def common(self) -> frozenset[str]:
        half = len(self.members) / 2
        return frozenset(word for word, count in self.counts.items() if count >= half)


def group_questions(texts: Sequence[str]) -> list[list[int]]:
    """The indexes of `texts` in groups that ask the same, the largest group first (ties: the
    one asked first); each group in the order of `texts`. A question without any word to
    compare stands alone."""
    groups: list[_Group] = []
    for index, text in enumerate(texts):
        asked = asked_words(text)
        best = max(groups, key=lambda group: _overlap(asked, group.common), default=None)
        if best is None or _overlap(asked, best.common) < SAME_QUESTION:
            best = _Group()
            groups.append(best)
        best.add(index, asked)
    ordered = sorted(groups, key=lambda group: (-len(group.members), group.members[0]))
    return [group.members for group in ordered]


def common_words(texts: Sequence[str], most: int = 4) -> list[str]:
    """The words at least half of `texts` share (and two of them, when there are two), the
    most frequent first (at most `most`)."""
    counts = Counter(word for text in texts for word in sorted(asked_words(text)))
    needed = max(len(texts) / 2, min(2, len(texts)))
    shared = [word for word, count in counts.most_common() if count >= needed]
    return shared[:most]
