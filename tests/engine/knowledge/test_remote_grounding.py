"""Grounded answers end to end through the OpenAI-compatible backend: the fake server picks the
statement sharing the most words with the message and writes whatever reply a test scripts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import KnowledgeConfig
from engine.knowledge.facts import FactsError
from engine.knowledge.prompts import HANDOFF_REPLIES, STRICTER_NOTES, evidence_frame
from engine.remote_engine import RemoteMoodEngine
from engine.types import Mood
from tests.engine.test_remote_engine import remote_config
from tests.fake_openai import FakeOpenAIServer

FACTS = """# Fixit Phone Repair

## Screens
An iPhone screen is replaced in 2 hours and costs 899 yuan.

## Hours
We open every day from 10:00 to 20:00.
"""
CALM = Mood("neutral", 0.9)


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    path = tmp_path / "facts.md"
    path.write_text(FACTS, encoding="utf-8")
    return path


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def engine(server: FakeOpenAIServer, facts: Path) -> Iterator[RemoteMoodEngine]:
    remote = RemoteMoodEngine(remote_config(server.base_url, knowledge=KnowledgeConfig(facts)))
    yield remote
    remote.close()


def replies_asked(server: FakeOpenAIServer) -> list[dict[str, object]]:
    """The streamed (reply) requests, in order."""
    return [request for request in server.chat_requests() if request.get("stream")]


def notes(request: dict[str, object]) -> str:
    """What a reply request's system turns say: the persona first, the evidence after the
    message."""
    messages = request["messages"]
    assert isinstance(messages, list)
    return "\n".join(m["content"] for m in messages if m["role"] == "system")


async def test_a_reply_rests_on_the_picked_statement_only(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["A new screen takes 2 hours ", "and costs 899 yuan."]]
    stream = engine.reply([], "How much is a new iPhone screen?", CALM)
    assert await stream.text() == "A new screen takes 2 hours and costs 899 yuan."
    assert stream.handoff is None
    assert [s.text for s in stream.evidence] == [
        "An iPhone screen is replaced in 2 hours and costs 899 yuan."
    ]
    (reply,) = replies_asked(server)
    assert "An iPhone screen is replaced in 2 hours and costs 899 yuan." in notes(reply)
    assert "We open every day" not in notes(reply)


async def test_an_invented_number_is_written_again_with_a_stricter_note(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["We open at 9:00."], ["We open every day from 10:00 to 20:00."]]
    stream = engine.reply([], "When do you open every day?", CALM)
    assert await stream.text() == "We open every day from 10:00 to 20:00."
    first, second = replies_asked(server)
    assert STRICTER_NOTES["en"] not in notes(first)
    assert STRICTER_NOTES["en"] in notes(second)


async def test_a_reply_failing_twice_gives_the_statement_itself(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["It costs 1299 yuan."], ["It costs 1299 yuan, really."]]
    stream = engine.reply([], "How much is an iPhone screen replaced for?", Mood("negative", 0.9))
    assert await stream.text() == evidence_frame(
        "en", "negative", "An iPhone screen is replaced in 2 hours and costs 899 yuan."
    )
    assert stream.handoff is None


async def test_a_message_asking_nothing_is_answered_without_facts(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["Thanks, I've noted your 3 phones."]]
    stream = engine.reply([], "I have 3 phones to fix", CALM)
    assert await stream.text() == "Thanks, I've noted your 3 phones."
    assert stream.handoff is None and stream.evidence == ()


async def test_a_question_the_facts_do_not_answer_is_handed_off_in_the_customers_language(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.pick = lambda statements, message: 0
    stream = engine.reply([], "你们卖手机壳吗？", CALM)
    assert await stream.text() == HANDOFF_REPLIES["zh"]["neutral"]
    assert stream.handoff is not None
    assert replies_asked(server) == []


async def test_live_data_is_handed_off_without_asking_the_model(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    stream = engine.reply([], "Where is my parcel? Order 88123", CALM)
    assert await stream.text() == HANDOFF_REPLIES["en"]["neutral"]
    assert stream.handoff is not None
    assert server.chat_requests() == []


async def test_reload_reads_the_new_facts_and_keeps_the_old_on_a_bad_file(
    server: FakeOpenAIServer, engine: RemoteMoodEngine, facts: Path
) -> None:
    facts.write_text("## Hours\nWe open at 11:00 now, every day.\n", encoding="utf-8")
    knowledge = engine.reload_knowledge()
    assert knowledge is not None and len(knowledge.statements) == 1
    facts.write_text("", encoding="utf-8")
    with pytest.raises(FactsError, match=r"knowledge\.file"):
        engine.reload_knowledge()
    server.next_replies = [["We open at 11:00 every day."]]
    await engine.reply([], "When do you open every day?", CALM).text()
    assert "We open at 11:00 now, every day." in notes(replies_asked(server)[-1])


async def test_a_bare_yes_or_no_is_written_again_in_full(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["No."], ["No, we open every day from 10:00 to 20:00."]]
    stream = engine.reply([], "Are you closed every day?", CALM)
    assert await stream.text() == "No, we open every day from 10:00 to 20:00."
    assert len(replies_asked(server)) == 2


async def test_without_facts_a_question_goes_to_a_colleague(server: FakeOpenAIServer) -> None:
    remote = RemoteMoodEngine(remote_config(server.base_url))
    try:
        stream = remote.reply([], "Do you sell phone cases?", CALM)
        assert await stream.text() == HANDOFF_REPLIES["en"]["neutral"]
        assert stream.handoff is not None
        server.next_replies = [["I'm sorry to hear that, I'm here for you."]]
        feeling = remote.reply([], "I'm having a bad day.", CALM)
        assert await feeling.text() == "I'm sorry to hear that, I'm here for you."
    finally:
        remote.close()
