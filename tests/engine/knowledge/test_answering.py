"""A grounded answer step by step, on a scripted model: what is asked of it and what the
customer gets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.config import KnowledgeConfig
from engine.knowledge.answering import (
    REASON_INTENT,
    REASON_LIVE_DATA,
    REASON_NO_FACTS,
    REASON_NOT_ANSWERED,
    GroundedAnswerer,
    WriteRequest,
    pick_item,
)
from engine.knowledge.base import KnowledgeBase
from engine.knowledge.evidence import Pick
from engine.knowledge.prompts import HANDOFF_REPLIES, evidence_frame
from engine.knowledge.statements import Statement
from engine.language import Language
from engine.reply_text import FALLBACKS
from engine.types import Intent, Mood, Turn

FACTS = """# Acme
## Shipping
We ship within mainland China only. Delivery takes 2–4 days to most cities.
## Products
The AC-12 air conditioner is 1.5 HP.
"""
CALM = Mood("neutral", 0.9)


class ScriptedModel:
    """Picks the statement containing `answer_with` (or none), with `confidence`; writes the
    scripted replies in turn."""

    def __init__(
        self,
        answer_with: str | None,
        replies: list[str],
        confidence: float = 0.9,
        asks: float = 0.9,
        verified: float = 0.9,
    ) -> None:
        self.answer_with = answer_with
        self.replies = list(replies)
        self.confidence = confidence
        self.asks = asks
        self.verified = verified
        self.picked: list[tuple[Language, list[str], str]] = []
        self.written: list[WriteRequest] = []
        self.streamed: list[str] = []

    async def pick(self, language: Language, statements: Sequence[Statement], item: str) -> Pick:
        self.picked.append((language, [s.text for s in statements], item))
        shares = [
            self.confidence if self.answer_with and self.answer_with in s.text else 0.0
            for s in statements
        ]
        rest = 1.0 - sum(shares)
        others = len(statements) - sum(share > 0 for share in shares)
        probabilities = tuple(share if share else rest * 0.5 / max(others, 1) for share in shares)
        none = 1.0 - sum(probabilities)
        return Pick(tuple(statements), probabilities, none, self.asks, 0.0, self.verified)

    async def write(self, request: WriteRequest, on_delta) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
        self.written.append(request)
        reply = self.replies.pop(0)
        on_delta(reply)
        self.streamed.append(reply)
        return reply, False


@pytest.fixture
def knowledge(tmp_path: Path) -> KnowledgeBase:
    path = tmp_path / "facts.md"
    path.write_text(FACTS, encoding="utf-8")
    return KnowledgeBase(KnowledgeConfig(path))


async def _answer(model: ScriptedModel, knowledge: KnowledgeBase | None, text: str, history=()):  # type: ignore[no-untyped-def]
    deltas: list[str] = []
    reply = await GroundedAnswerer(model, knowledge).answer(
        list(history), text, CALM, "customer:1", deltas.append
    )
    return reply, deltas


async def test_an_answer_rests_on_the_picked_statement_only(knowledge: KnowledgeBase) -> None:
    model = ScriptedModel("2–4 days", ["Delivery takes 2–4 days to most cities."])
    reply, deltas = await _answer(model, knowledge, "How long does delivery take?")
    assert reply.handoff is None
    assert [s.text for s in reply.evidence] == ["Delivery takes 2–4 days to most cities."]
    (request,) = model.written
    assert request.evidence == ("Delivery takes 2–4 days to most cities.",)
    assert request.conversation == "customer:1" and not request.stricter
    assert deltas == ["Delivery takes 2–4 days to most cities."]


async def test_live_data_goes_to_a_colleague_without_the_model(knowledge: KnowledgeBase) -> None:
    model = ScriptedModel(None, [])
    reply, _ = await _answer(model, knowledge, "Where is my order #5521?")
    assert reply.handoff is not None and reply.handoff.reason == REASON_LIVE_DATA
    assert model.picked == [] and model.written == []


HANDOFF_INTENTS = ("order_status", "order_change")


def _wanting(intent: str) -> Mood:
    return Mood("neutral", 0.9, intent=Intent(intent, 0.8))


@pytest.mark.parametrize("facts", [True, False])
async def test_an_intent_that_needs_a_person_is_handed_off_at_once(
    knowledge: KnowledgeBase, facts: bool
) -> None:
    model = ScriptedModel(None, [])
    answerer = GroundedAnswerer(model, knowledge if facts else None, None, HANDOFF_INTENTS)
    reply = await answerer.answer(
        [], "Can I still change the size?", _wanting("order_change"), None, lambda _: None
    )
    assert reply.handoff is not None
    assert reply.handoff.reason == REASON_INTENT.format(intent="order_change")
    assert reply.text == HANDOFF_REPLIES["en"]["neutral"]
    assert model.picked == [] and model.written == []


async def test_the_order_words_stand_aside_where_the_intent_reads_orders(
    knowledge: KnowledgeBase,
) -> None:
    """ "order #5521" alone no longer sends a product question to a person when the intent was
    read (and order questions go by it); stock words still do, and without an intent the order
    words do as before."""
    text = "Is the AC-12 from order #5521 1.5 HP?"
    model = ScriptedModel("1.5 HP", ["The AC-12 air conditioner is 1.5 HP."] * 2)
    answerer = GroundedAnswerer(model, knowledge, None, HANDOFF_INTENTS)
    reply = await answerer.answer([], text, _wanting("product"), None, lambda _: None)
    assert reply.handoff is None and model.picked
    stock = await answerer.answer(
        [], "Is the AC-12 in stock?", _wanting("product"), None, lambda _: None
    )
    assert stock.handoff is not None and stock.handoff.reason == REASON_LIVE_DATA
    unread = await answerer.answer([], text, CALM, None, lambda _: None)
    assert unread.handoff is not None and unread.handoff.reason == REASON_LIVE_DATA
    # A team whose hand-off intents leave order questions to the bot keeps the order words.
    kept = GroundedAnswerer(ScriptedModel(None, []), knowledge, None, ("order_change",))
    words = await kept.answer([], text, _wanting("product"), None, lambda _: None)
    assert words.handoff is not None and words.handoff.reason == REASON_LIVE_DATA


async def test_a_message_that_asks_nothing_gets_a_reply_without_facts(
    knowledge: KnowledgeBase,
) -> None:
    model = ScriptedModel(None, ["Thank you so much for your kind words!"], asks=0.1)
    reply, _ = await _answer(model, knowledge, "Thanks a lot, you were great!")
    assert reply.handoff is None and reply.evidence == ()
    assert reply.text == "Thank you so much for your kind words!"
    (request,) = model.written
    # The grounded persona (no claims about the company), with no evidence.
    assert request.evidence == ()


async def test_without_a_facts_file_questions_go_to_a_colleague() -> None:
    model = ScriptedModel(None, [], asks=0.95)
    reply, _ = await _answer(model, None, "Do you sell washing machines?")
    assert reply.handoff is not None and reply.handoff.reason == REASON_NO_FACTS
    assert reply.text == HANDOFF_REPLIES["en"]["neutral"]
    assert model.picked == [("en", [], "Do you sell washing machines?")]


async def test_without_a_facts_file_a_feeling_is_answered_kindly() -> None:
    model = ScriptedModel(None, ["I'm so sorry to hear that."], asks=0.2)
    reply, _ = await _answer(model, None, "I'm having a really bad day.")
    assert reply.handoff is None and reply.text == "I'm so sorry to hear that."
    assert model.written[0].evidence is None


async def test_an_unsure_pick_goes_to_a_colleague_with_the_closest_statement(
    knowledge: KnowledgeBase,
) -> None:
    model = ScriptedModel("AC-12", [], confidence=0.15)
    reply, _ = await _answer(model, knowledge, "Do you sell washing machines?")
    assert reply.handoff is not None and reply.handoff.reason == REASON_NOT_ANSWERED
    assert model.written == []


async def test_a_price_the_statement_does_not_hold_goes_to_a_colleague(
    knowledge: KnowledgeBase,
) -> None:
    """The pick is sure (the AC-12 sentence), but it holds no price."""
    model = ScriptedModel("AC-12", [], confidence=0.95)
    reply, _ = await _answer(model, knowledge, "How much does the AC-12 cost?")
    assert reply.handoff is not None
    assert [s.text for s in reply.evidence] == ["The AC-12 air conditioner is 1.5 HP."]


async def test_a_contradicting_reply_is_written_again_without_streaming(
    knowledge: KnowledgeBase,
) -> None:
    model = ScriptedModel(
        "mainland China only",
        ["Yes, we do deliver to Canada!", "Sorry, we ship within mainland China only."],
    )
    reply, deltas = await _answer(model, knowledge, "Do you deliver to Canada?")
    assert reply.text == "Sorry, we ship within mainland China only."
    first, second = model.written
    assert not first.stricter and second.stricter and second.conversation is None
    assert deltas == ["Yes, we do deliver to Canada!"]


async def test_failing_twice_sends_the_statement_itself(knowledge: KnowledgeBase) -> None:
    model = ScriptedModel("mainland China only", ["Yes!", "Yes, we deliver there in 9 days."])
    reply, _ = await _answer(model, knowledge, "Do you deliver to Canada?")
    assert reply.handoff is None
    assert reply.text == evidence_frame("en", "neutral", "We ship within mainland China only.")


def test_a_short_follow_up_is_read_with_the_previous_message() -> None:
    history = [
        Turn("user", "How long does delivery to Beijing take?"),
        Turn("assistant", "2–4 days."),
    ]
    assert (
        pick_item(history, "And to Tibet?")
        == "How long does delivery to Beijing take?\nAnd to Tibet?"
    )
    long = "How long does delivery to Lhasa in Tibet take for a big parcel?"
    assert pick_item(history, long) == long


@pytest.mark.parametrize(("verified", "answered"), [(0.95, True), (0.05, False)])
async def test_the_focused_check_decides_a_fair_pick(
    knowledge: KnowledgeBase, verified: float, answered: bool
) -> None:
    """A pick neither sure nor unsure is answered when the check of its statement says it
    answers the message, and handed off when the check says it does not."""
    model = ScriptedModel(
        "2–4 days", ["Delivery takes 2–4 days."], confidence=0.7, verified=verified
    )
    reply, _ = await _answer(model, knowledge, "How long does delivery take?")
    assert (reply.handoff is None) is answered
    if not answered:
        assert reply.handoff is not None and reply.handoff.reason == REASON_NOT_ANSWERED


async def test_a_reply_without_facts_never_keeps_an_invented_number(
    knowledge: KnowledgeBase,
) -> None:
    """Thanks need no facts, and no number either: written twice with one, the customer gets the
    kind standard reply; only the first attempt streams."""
    model = ScriptedModel(
        None, ["Thanks! Your next order ships in 3 days.", "Thanks, 20% off next time!"], asks=0.1
    )
    reply, deltas = await _answer(model, knowledge, "Thanks a lot, you were great!")
    assert reply.handoff is None
    assert reply.text == FALLBACKS["en"]["neutral"]
    assert deltas == ["Thanks! Your next order ships in 3 days."]
    assert len(model.written) == 2


async def test_a_second_reply_without_an_invented_number_is_sent(
    knowledge: KnowledgeBase,
) -> None:
    model = ScriptedModel(
        None, ["Thanks! Ships in 3 days.", "Thank you, that means a lot!"], asks=0.1
    )
    reply, _ = await _answer(model, knowledge, "Thanks a lot, you were great!")
    assert reply.text == "Thank you, that means a lot!"
