"""The company's knowledge: the facts file's statements and the facts the operators taught.

`reload()` swaps in a re-read file atomically (a broken file is refused and the old facts kept);
`set_desk_facts()` swaps in the operators' facts. Each change gets a new `version`, which keys
every prompt cached from the facts, so nothing stale is ever read.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from engine.config import KnowledgeConfig
from engine.knowledge.evidence import MAX_CANDIDATES
from engine.knowledge.facts import Facts, load_facts
from engine.knowledge.retrieval import StatementIndex
from engine.knowledge.statements import Statement, split_statements, statement_language
from engine.language import Language

log = logging.getLogger(__name__)

_versions = itertools.count(1)


@dataclass(frozen=True)
class DeskFact:
    """An operator's answer to a customer's question, saved as a fact from the desk."""

    id: int
    question: str
    answer: str


def desk_statement(fact: DeskFact) -> Statement:
    text = f"{fact.question.strip()} → {fact.answer.strip()}"
    return Statement(f"desk-{fact.id}", "", text, statement_language(fact.answer), "desk")


@dataclass(frozen=True)
class Knowledge:
    """One consistent view: the file's statements, the desk's, and their index."""

    facts: Facts
    statements: tuple[Statement, ...]
    desk: tuple[Statement, ...]
    version: int

    def candidates(self, language: Language) -> list[Statement]:
        """The statements a message in `language` picks from: those written in it (a
        bilingual file states each fact twice), or all when none are."""
        everything = [*self.statements, *self.desk]
        own = [statement for statement in everything if statement.language == language]
        return own or everything

    def summary(self) -> str:
        """How the facts are split, in a few words (for operators and `moodbot check`)."""
        languages = sorted({statement.language for statement in self.statements})
        per_language = ", ".join(
            f"{sum(s.language == language for s in self.statements)} in {language}"
            for language in languages
        )
        desk = f", {len(self.desk)} desk facts" if self.desk else ""
        sections = len({statement.section for statement in self.statements})
        return (
            f"{sections} sections, {len(self.statements)} statements "
            f"({per_language}){desk}; each message picks from the {MAX_CANDIDATES} that "
            "match it best"
        )


# Of a message's candidates: the best BM25 matches listed first, and the best ones whose section
# neighbours join them (then the remaining matches, up to MAX_CANDIDATES).
DIRECT_HITS = 5
NEIGHBOURED_HITS = 2


def _neighbours(statements: list[Statement], statement: Statement) -> list[Statement]:
    """The statements just before and after `statement` in its own section."""
    at = statements.index(statement)
    around = statements[max(at - 1, 0) : at] + statements[at + 1 : at + 2]
    return [other for other in around if other.section == statement.section]


class KnowledgeBase:
    def __init__(self, config: KnowledgeConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        facts = load_facts(config.file)
        self._current = Knowledge(facts, tuple(split_statements(facts)), (), next(_versions))
        self._index = StatementIndex([*self._current.statements])

    @property
    def current(self) -> Knowledge:
        return self._current

    def reload(self) -> Knowledge:
        """Re-read the file; on a FactsError the facts in use stay as they were."""
        facts = load_facts(self.config.file)
        with self._lock:
            self._swap(facts, self._current.desk)
        log.info(
            "facts reloaded from %s: %d sections, %d statements",
            self.config.file,
            len(facts.sections),
            len(self._current.statements),
        )
        return self._current

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> bool:
        """Use these operators' facts from now on; False when they are the ones in use."""
        desk = tuple(desk_statement(fact) for fact in facts)
        with self._lock:
            if desk == self._current.desk:
                return False
            self._swap(self._current.facts, desk)
        return True

    def _swap(self, facts: Facts, desk: tuple[Statement, ...]) -> None:
        statements = tuple(split_statements(facts))
        self._index = StatementIndex([*statements, *desk])
        self._current = Knowledge(facts, statements, desk, next(_versions))

    def candidates_for(self, text: str, language: Language) -> list[Statement]:
        """What the pick chooses from: the statements in `language` (desk facts included) that
        match the message best (BM25, sharing a word at least), with the neighbours of the two
        best in their section: a fact worded unlike the message often sits next to one that
        shares its words ("Do you deliver to Canada?" matches "Delivery takes 2-4 days", and
        the next sentence says "We ship within mainland China only")."""
        index = self._index
        allowed = self._current.candidates(language)
        scores = index.scores(text)
        position = {statement: at for at, statement in enumerate(index.statements)}
        hits = sorted(
            (s for s in allowed if scores[position[s]] > 0),
            key=lambda s: -float(scores[position[s]]),
        )
        chosen = hits[:DIRECT_HITS]
        for hit in hits[:NEIGHBOURED_HITS]:
            chosen += [s for s in _neighbours(allowed, hit) if s not in chosen]
        chosen += [s for s in hits[DIRECT_HITS:] if s not in chosen]
        return chosen[:MAX_CANDIDATES]

    def match(self, text: str, statement: Statement) -> float:
        """The statement's BM25 score against the message, over the best score of any."""
        scores = self._index.scores(text)
        best = float(scores.max()) if len(scores) else 0.0
        if best <= 0:
            return 0.0
        position = self._index.statements.index(statement)
        return float(scores[position]) / best
