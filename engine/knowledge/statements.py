"""The facts file as statements: sentences that keep their section heading, each with a stable id.

A statement is what an answer rests on: the bot picks one (or two) before it writes, shows it to
the operators under its answer, and checks the answer against it. Sentences end at 。！？, and
at .!? before a space and a capital letter, a digit or a Chinese character, so numbers such as
1.5, 9:00, 400-820-1234 or 1,000 never split one, nor do "e.g." and "No. 5". The document's
"# title" line is not a statement.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.knowledge.facts import Facts, Section
from engine.language import Language

# Where a sentence may end: after Chinese end punctuation, or after .!? (and closing quotes or
# brackets) before whitespace that precedes a capital, a digit, an opening quote or a Chinese
# character. Semicolons join clauses of one sentence ("1 year; 3 years on the compressor").
_CHINESE_END = re.compile(r"(?<=[。！？])")
_LATIN_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[A-Z0-9\"“(\u4e00-\u9fff])")
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|No|no|Nr|Mr|Mrs|Ms|Dr|St|approx|incl|vs|Tel|tel)\.)$"
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d+[.)、])\s+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
MIN_CHARS = 4


@dataclass(frozen=True)
class Statement:
    """One sentence of the facts (or one fact the operators taught the bot)."""

    id: str
    section: str
    text: str
    language: Language
    # "file": the facts file; "desk": an operator's answer saved as a fact.
    source: str = "file"

    @property
    def context(self) -> str:
        """The sentence with its heading, as retrieval indexes it and operators see it."""
        return f"{self.section}: {self.text}" if self.section else self.text


def statement_id(section: str, text: str) -> str:
    """Stable while the sentence and its heading stay the same, whatever moves around it."""
    slug = re.sub(r"[^a-z0-9]+", "-", section.casefold()).strip("-")[:20] or "facts"
    digest = hashlib.sha256(f"{section}\n{text}".encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def _paragraphs(body: str) -> Iterable[str]:
    """Lines joined into paragraphs (a blank line or a list item starts a new one); a line
    break inside a paragraph is a space, except between Chinese characters."""
    current = ""
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if current:
                yield current
            current = ""
            continue
        if _LIST_ITEM.match(line):
            if current:
                yield current
            yield _LIST_ITEM.sub("", line)
            current = ""
            continue
        if not current:
            current = line
        elif _HAN.match(current[-1]) and _HAN.match(line[0]):
            current += line
        else:
            current += " " + line
    if current:
        yield current


def split_sentences(paragraph: str) -> list[str]:
    pieces: list[str] = []
    for chunk in _CHINESE_END.split(paragraph):
        start = 0
        for end in _LATIN_END.finditer(chunk):
            candidate = chunk[start : end.start()].strip()
            if _ABBREVIATIONS.search(candidate):
                continue
            pieces.append(candidate)
            start = end.end()
        pieces.append(chunk[start:].strip())
    sentences: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if sentences and len(piece) < MIN_CHARS:
            sentences[-1] += piece
        else:
            sentences.append(piece)
    return sentences


def statement_language(sentence: str) -> Language:
    """Chinese as soon as a sentence has Chinese characters: a fact written in Chinese often
    holds an address, an email or a product code in Latin letters."""
    return "zh" if _HAN.search(sentence) else "en"


def section_statements(section: Section) -> list[Statement]:
    found: list[Statement] = []
    seen: set[str] = set()
    for paragraph in _paragraphs(section.body):
        for sentence in split_sentences(paragraph):
            identifier = statement_id(section.title, sentence)
            if identifier in seen:
                continue
            seen.add(identifier)
            found.append(
                Statement(identifier, section.title, sentence, statement_language(sentence))
            )
    return found


def split_statements(facts: Facts) -> list[Statement]:
    """Every statement of the file, in file order."""
    return [statement for section in facts.sections for statement in section_statements(section)]
