"""BM25 over statements: which statement (and which group of a large file) a message matches."""

from pathlib import Path

from engine.config import KnowledgeConfig
from engine.knowledge.base import KnowledgeBase
from engine.knowledge.evidence import MAX_CANDIDATES
from engine.knowledge.facts import Facts, Section
from engine.knowledge.retrieval import StatementIndex, words
from engine.knowledge.statements import split_statements

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


def test_english_words_are_stemmed_and_chinese_segmented() -> None:
    assert "replac" in words("replacing")
    assert "电池" in words("换电池要多久")


def test_words_of_one_family_match_where_the_stemmer_parts_them() -> None:
    # Snowball stems "deliver" to "deliv" and "delivery" to "deliveri".
    assert set(words("Do you deliver?")) & set(words("Delivery takes 2 days."))
    assert not set(words("Do you deliver?")) & set(words("We post phones."))


def test_questions_find_their_statement_by_words_and_heading() -> None:
    index = StatementIndex(split_statements(FACTS))

    def best(question: str) -> str:
        return index.ranked(question, 1)[0][0].section

    assert best("How long is the warranty on a new battery?") == "Battery"
    assert best("Do you replace screens?") == "Screen repair"
    assert best("修好的手机怎么寄回给我？") == "Delivery"
    assert best("你们几点营业？") == "Opening hours"
    assert index.ranked("xylophone?", 3) == []


def test_a_message_picks_from_the_statements_in_its_language_that_match_it_best(
    tmp_path: Path,
) -> None:
    """However large the file, the pick lists the few statements sharing the most words with
    the message, best first, in the message's language."""
    filler = " ".join(f"Model X{n} comes in grey." for n in range(40))
    path = tmp_path / "facts.md"
    path.write_text(
        f"## Models\n{filler}\n\n## Batteries\nThe battery lasts 3 years.\n"
        "The battery of model X7 lasts 2 years.\n电池可以用三年。\n",
        encoding="utf-8",
    )
    knowledge = KnowledgeBase(KnowledgeConfig(path))
    found = knowledge.candidates_for("How long does the battery of model X7 last?", "en")
    texts = [statement.text for statement in found]
    assert texts[0] == "The battery of model X7 lasts 2 years."
    assert "The battery lasts 3 years." in texts
    assert len(found) == MAX_CANDIDATES
    assert all(statement.language == "en" for statement in found)
    assert knowledge.candidates_for("xylophone", "en") == []
