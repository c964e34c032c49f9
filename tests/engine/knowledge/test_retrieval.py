from pathlib import Path

from engine.knowledge.facts import Facts, Section
from engine.knowledge.retrieval import FactsIndex, words

FACTS = Facts(
    Path("shop.md"),
    (
        Section(
            "Opening hours",
            "We open Monday to Friday, 10:00 to 19:00.\n周一至周五 10:00–19:00 营业。",
        ),
        Section(
            "Screen repair", "An iPhone screen is replaced in 2 hours.\niPhone 换屏 2 小时完成。"
        ),
        Section(
            "Battery", "Battery replacement comes with a 6-month warranty.\n换电池保修 6 个月。"
        ),
        Section("Delivery", "We post repaired phones by SF Express.\n修好的手机用顺丰寄回。"),
    ),
)


def characters(text: str) -> int:
    return len(text)


def test_english_words_are_stemmed_and_chinese_segmented() -> None:
    assert "replac" in words("replacing")
    assert "电池" in words("换电池要多久")


def test_english_question_finds_its_section() -> None:
    index = FactsIndex(FACTS, budget_tokens=10_000, count_tokens=characters)
    assert (
        FACTS.sections[index.ranked("How long is the warranty on a new battery?")[0]].title
        == "Battery"
    )
    assert FACTS.sections[index.ranked("Do you replace screens?")[0]].title == "Screen repair"


def test_chinese_question_finds_its_section() -> None:
    index = FactsIndex(FACTS, budget_tokens=10_000, count_tokens=characters)
    assert FACTS.sections[index.ranked("修好的手机怎么寄回给我？")[0]].title == "Delivery"
    assert FACTS.sections[index.ranked("你们几点营业？")[0]].title == "Opening hours"


def test_a_file_within_the_budget_goes_whole_in_file_order() -> None:
    index = FactsIndex(FACTS, budget_tokens=10_000, count_tokens=characters)
    selection = index.select("battery")
    assert selection.whole
    assert selection.sections == FACTS.sections


def test_a_larger_file_gives_the_best_sections_within_the_budget() -> None:
    budget = max(len(section.text) for section in FACTS.sections) + 5
    index = FactsIndex(FACTS, budget_tokens=budget, count_tokens=characters)
    selection = index.select("换电池保修多久？")
    assert not selection.whole
    assert [section.title for section in selection.sections] == ["Battery"]
    assert sum(len(section.text) for section in selection.sections) <= budget


def test_a_question_sharing_no_word_selects_nothing_when_retrieving() -> None:
    index = FactsIndex(FACTS, budget_tokens=50, count_tokens=characters)
    assert index.select("xylophone?").sections == ()
