"""The facts file: Markdown whose `##` sections are the units of knowledge (plain text is one)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CONFIG_KEY = "knowledge.file"
# Every statement is indexed in memory and re-indexed on each reload: a file this large is a
# mistake (a catalogue export, a log) rather than a support team's facts.
MAX_FACTS_BYTES = 1024 * 1024
_HEADING = re.compile(r"^##(?!#)\s*(.*)$")


class FactsError(ValueError):
    """The facts file cannot be used; the message names the config key."""


@dataclass(frozen=True)
class Section:
    title: str
    body: str

    @property
    def text(self) -> str:
        return f"## {self.title}\n{self.body}" if self.title else self.body


@dataclass(frozen=True)
class Facts:
    path: Path
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)


def parse_facts(text: str) -> list[Section]:
    """The `##` sections of a Markdown text; text before the first one (the company's title,
    say) is a section of its own, and a text without headings is one section."""
    sections: list[Section] = []
    title = ""
    lines: list[str] = []

    def close() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section(title, body))

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            close()
            title, lines = heading.group(1).strip(), []
        else:
            lines.append(line)
    close()
    return sections


def load_facts(path: Path) -> Facts:
    """Read and check the facts file; every failure is one FactsError naming the config key."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FactsError(f"config key {CONFIG_KEY}: {path} does not exist") from None
    except OSError as exc:
        raise FactsError(f"config key {CONFIG_KEY}: cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_FACTS_BYTES:
        raise FactsError(
            f"config key {CONFIG_KEY}: {path} is {len(raw) / 2**20:.1f} MiB; a facts file may "
            f"hold at most {MAX_FACTS_BYTES // 2**20} MiB (keep to what customers ask about)"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FactsError(f"config key {CONFIG_KEY}: {path} is not UTF-8 text") from None
    sections = parse_facts(text)
    if not sections:
        raise FactsError(f"config key {CONFIG_KEY}: {path} holds no facts (it is empty)")
    return Facts(path, tuple(sections))
