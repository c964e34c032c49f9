from pathlib import Path

import pytest

from engine.knowledge.facts import MAX_FACTS_BYTES, FactsError, Section, load_facts, parse_facts


def test_sections_are_the_level_two_headings_with_the_title_kept() -> None:
    text = (
        "# Shop\nIntro line.\n\n## Hours\nOpen 9-18.\n### Detail\nstill hours\n"
        "## 退货\n七天无理由。\n"
    )
    assert parse_facts(text) == [
        Section("", "# Shop\nIntro line."),
        Section("Hours", "Open 9-18.\n### Detail\nstill hours"),
        Section("退货", "七天无理由。"),
    ]


def test_plain_text_is_one_section() -> None:
    assert parse_facts("We open at 9.\nWe close at 6.\n") == [
        Section("", "We open at 9.\nWe close at 6.")
    ]


def test_a_heading_without_body_is_dropped() -> None:
    assert parse_facts("## Empty\n\n## Full\ntext") == [Section("Full", "text")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty"), (b"\n## Only a heading\n", "empty"), (b"\xff\xfe\x00", "not UTF-8")],
)
def test_unusable_files_name_the_key(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "facts.md"
    path.write_bytes(content)
    with pytest.raises(FactsError, match=rf"^config key knowledge\.file: .*{reason}"):
        load_facts(path)


def test_a_missing_file_names_the_key_and_the_path(tmp_path: Path) -> None:
    with pytest.raises(FactsError, match=r"^config key knowledge\.file: .*gone\.md does not exist"):
        load_facts(tmp_path / "gone.md")


def test_a_file_over_the_size_cap_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "facts.md"
    line = "## Section\nWe ship within mainland China only.\n"
    path.write_text(line * (MAX_FACTS_BYTES // len(line.encode()) + 1), encoding="utf-8")
    with pytest.raises(FactsError, match=r"knowledge\.file: .* at most 1 MiB"):
        load_facts(path)
    path.write_text(line * 1000, encoding="utf-8")
    assert len(load_facts(path).sections) == 1000
