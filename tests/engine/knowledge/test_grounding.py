from pathlib import Path

import pytest

from engine.config import KnowledgeConfig
from engine.knowledge.grounding import DraftFilter, KnowledgeBase
from engine.knowledge.prompts import STRICTER_NOTES
from engine.types import Turn

FACTS = "## Screens\nA screen is replaced in 2 hours.\n\n## Hours\n每天 10:00–20:00 营业。\n"


def knowledge(tmp_path: Path, budget: int = 10_000, threshold: float = -2.5) -> KnowledgeBase:
    path = tmp_path / "facts.md"
    path.write_text(FACTS, encoding="utf-8")
    return KnowledgeBase(KnowledgeConfig(path, budget, threshold), len)


def test_a_whole_file_makes_one_constant_prefix_per_language(tmp_path: Path) -> None:
    base = knowledge(tmp_path)
    for language in ("en", "zh"):
        prefix = base.constant_prefix(language)
        assert prefix is not None and "A screen is replaced in 2 hours." in prefix
        for question, mood in (("screen?", "negative"), ("几点开门", "positive")):
            prompt = base.system_prompt(language, mood, question)
            assert prompt.startswith(prefix + "\n\n")


def test_the_best_sections_come_again_after_the_prefix(tmp_path: Path) -> None:
    base = knowledge(tmp_path)
    prompt = base.system_prompt("zh", "neutral", "几点营业？")
    assert prompt.count("每天 10:00–20:00 营业。") == 2


def test_a_retrieved_file_has_no_constant_prefix(tmp_path: Path) -> None:
    base = knowledge(tmp_path, budget=70)
    assert base.constant_prefix("en") is None
    prompt = base.system_prompt("en", "neutral", "how long for a screen?")
    assert "A screen is replaced" in prompt
    assert "营业" not in prompt


def test_the_stricter_note_only_on_a_retry(tmp_path: Path) -> None:
    base = knowledge(tmp_path)
    assert STRICTER_NOTES["en"] not in base.system_prompt("en", "neutral", "q")
    assert STRICTER_NOTES["en"] in base.system_prompt("en", "neutral", "q", stricter=True)


@pytest.mark.parametrize(
    ("raw", "logprob", "silent"),
    [
        ("NONE", None, True),
        (" NONE.", -9.0, True),
        ("None of our phones are sold used.", None, False),
        ("A screen takes 2 hours.", -1.0, True),
        ("A screen takes 2 hours.", -4.0, False),
    ],
)
def test_silence_is_the_mark_or_a_likely_first_token(
    tmp_path: Path, raw: str, logprob: float | None, silent: bool
) -> None:
    assert knowledge(tmp_path).is_silent(raw, logprob) is silent


def test_numbers_from_facts_history_and_message_are_allowed(tmp_path: Path) -> None:
    base = knowledge(tmp_path)
    history = [Turn("user", "I have 2 phones"), Turn("assistant", "Sure, 2 phones.")]
    assert (
        base.invented("2 hours, from 10:00 to 20:00, for 3 phones", history, "and 3 more") == set()
    )
    assert base.invented("It costs 500 yuan.", history, "price?") == {"500"}


def test_the_draft_never_shows_the_silent_mark() -> None:
    shown: list[str] = []
    draft = DraftFilter(shown.append)
    for delta in ["NO", "NE", ".", " sorry"]:
        draft(delta)
    assert shown == []
    answer = DraftFilter(shown.append)
    for delta in ["N", "o problem", "!"]:
        answer(delta)
    assert "".join(shown) == "No problem!"
