"""The facts file split into statements: whole sentences with their heading, stable ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.knowledge.facts import Facts, Section, parse_facts
from engine.knowledge.statements import split_sentences, split_statements, statement_id


def _facts(text: str) -> Facts:
    return Facts(Path("facts.md"), tuple(parse_facts(text)))


@pytest.mark.parametrize(
    ("paragraph", "sentences"),
    [
        (
            "The AC-12 is 1.5 HP. It needs installation.",
            ["The AC-12 is 1.5 HP.", "It needs installation."],
        ),
        (
            "We answer from 9:00 to 21:00. Call 400-820-1234! Or write to us.",
            ["We answer from 9:00 to 21:00.", "Call 400-820-1234!", "Or write to us."],
        ),
        (
            "Orders over 1,000 yuan, e.g. a fridge, ship free. No. 5 is our store.",
            ["Orders over 1,000 yuan, e.g. a fridge, ship free.", "No. 5 is our store."],
        ),
        (
            "All appliances have a 1-year warranty; fridges have 3 years. 5 stores are open.",
            ["All appliances have a 1-year warranty; fridges have 3 years.", "5 stores are open."],
        ),
        (
            "客服时间：9:00–21:00。周日休息！有问题吗？",
            ["客服时间：9:00–21:00。", "周日休息！", "有问题吗？"],
        ),
        (
            "保修 1 年；压缩机保修 3 年。KF-8 容量 1.8 升。",
            ["保修 1 年；压缩机保修 3 年。", "KF-8 容量 1.8 升。"],
        ),
        (
            "Email service@acme-home.example. Version 2.5.1 is out.",
            ["Email service@acme-home.example.", "Version 2.5.1 is out."],
        ),
    ],
)
def test_numbers_times_phones_and_abbreviations_never_split_a_sentence(
    paragraph: str, sentences: list[str]
) -> None:
    assert split_sentences(paragraph) == sentences


def test_statements_keep_their_heading_and_language_and_skip_the_title() -> None:
    text = (
        "# Acme — facts\n\n## Shipping\nWe ship within mainland China only. Delivery takes\n"
        "2–4 days.\n仅限中国大陆发货。\n大部分城市 2–4 天\n送达。\n\n"
        "## Contact\n- Phone 400-820-1234\n- 邮箱 service@acme.example。\n"
    )
    statements = split_statements(_facts(text))
    assert [(s.section, s.text, s.language) for s in statements] == [
        ("Shipping", "We ship within mainland China only.", "en"),
        ("Shipping", "Delivery takes 2–4 days.", "en"),
        ("Shipping", "仅限中国大陆发货。", "zh"),
        ("Shipping", "大部分城市 2–4 天送达。", "zh"),
        ("Contact", "Phone 400-820-1234", "en"),
        ("Contact", "邮箱 service@acme.example。", "zh"),
    ]
    assert statements[0].context == "Shipping: We ship within mainland China only."


def test_ids_are_stable_and_follow_only_the_sentence_and_its_heading() -> None:
    first = split_statements(_facts("## Hours\nWe open at 9:00.\n\n## Returns\n7 days.\n"))
    moved = split_statements(
        _facts("## Returns\n7 days.\n\n## New\nSomething new.\n\n## Hours\nWe open at 9:00.\n")
    )
    assert {s.id for s in first} <= {s.id for s in moved}
    assert statement_id("Hours", "We open at 9:00.") != statement_id("Hours", "We open at 10:00.")
    assert statement_id("Hours", "7 days.") != statement_id("Returns", "7 days.")


def test_a_sentence_written_twice_in_a_section_is_one_statement() -> None:
    section = Section("Hours", "We open at 9:00. We open at 9:00.")
    assert len(split_statements(Facts(Path("facts.md"), (section,)))) == 1
