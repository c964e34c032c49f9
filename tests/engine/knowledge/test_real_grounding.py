"""The real model with the example facts: a covered question is answered from them, an
uncovered one is handed off without an invented number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import KnowledgeConfig
from engine.knowledge.numbers import invented_numbers
from engine.mood_engine import MoodEngine

pytestmark = pytest.mark.real_model

FACTS = Path(__file__).parents[3] / "examples" / "phone_repair_facts.md"


@pytest.fixture(scope="module")
def grounded(real_engine: MoodEngine) -> Iterator[MoodEngine]:
    """The session's real engine (not loaded again), with the example facts for these tests."""
    real_engine.use_knowledge(KnowledgeConfig(FACTS))
    try:
        yield real_engine
    finally:
        real_engine.use_knowledge(None)


async def test_a_covered_question_is_answered_from_the_facts(grounded: MoodEngine) -> None:
    question = "How long does an iPhone screen replacement take?"
    stream = grounded.reply([], question, await grounded.classify(question))
    answer = await stream.text()
    assert stream.handoff is None, answer
    assert "1 hour" in answer or "one hour" in answer.lower(), answer


async def test_an_uncovered_price_is_handed_off_without_a_number(grounded: MoodEngine) -> None:
    question = "How much does an iPhone 13 screen cost?"
    stream = grounded.reply([], question, await grounded.classify(question))
    answer = await stream.text()
    assert stream.handoff is not None, answer
    assert invented_numbers(answer, [FACTS.read_text(encoding="utf-8"), question]) == set()
