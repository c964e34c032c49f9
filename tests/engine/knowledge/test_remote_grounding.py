"""The guard and the hand-off, end to end through the OpenAI-compatible backend (the fake
server writes whatever reply a test scripts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import KnowledgeConfig
from engine.knowledge.facts import FactsError
from engine.knowledge.prompts import HANDOFF_REPLIES, STRICTER_NOTES
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


def system_prompts(server: FakeOpenAIServer) -> list[str]:
    """Per request, what the system turns say: the facts first, the notes after the message."""
    return [
        "\n".join(m["content"] for m in request["messages"] if m["role"] == "system")
        for request in server.chat_requests()
    ]


async def test_a_reply_from_the_facts_passes_and_the_prompt_carries_them(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["A new screen takes 2 hours ", "and costs 899 yuan."]]
    stream = engine.reply([], "How much is a new iPhone screen?", CALM)
    assert await stream.text() == "A new screen takes 2 hours and costs 899 yuan."
    assert stream.handoff is None
    (prompt,) = system_prompts(server)
    assert "An iPhone screen is replaced in 2 hours and costs 899 yuan." in prompt


async def test_an_invented_number_is_written_again_with_a_stricter_note(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["We open at 9:00."], ["We open every day at 10:00."]]
    stream = engine.reply([], "When do you open?", CALM)
    assert await stream.text() == "We open every day at 10:00."
    assert stream.handoff is None
    first, second = system_prompts(server)
    assert STRICTER_NOTES["en"] not in first
    assert STRICTER_NOTES["en"] in second


async def test_a_number_invented_twice_becomes_the_hand_off(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["It costs 1299 yuan."], ["It costs 1299 yuan, really."]]
    stream = engine.reply([], "How much is a Samsung screen?", Mood("negative", 0.9))
    assert await stream.text() == HANDOFF_REPLIES["en"]["negative"]
    assert stream.handoff is not None
    assert "1299" in stream.handoff.reason
    assert stream.handoff.question == "How much is a Samsung screen?"


async def test_a_number_the_customer_gave_is_no_invention(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["Thanks, I've noted your 3 phones."]]
    stream = engine.reply([], "I have 3 phones to fix", CALM)
    assert await stream.text() == "Thanks, I've noted your 3 phones."
    assert stream.handoff is None


async def test_silent_facts_hand_off_in_the_customers_language_and_hide_the_mark(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["NO", "NE"]]
    stream = engine.reply([], "你们卖手机壳吗？", CALM)
    drafts = [delta async for delta in stream]
    assert await stream.text() == HANDOFF_REPLIES["zh"]["neutral"]
    assert stream.handoff is not None
    assert "NONE" not in "".join(drafts)


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
    facts.write_text("## Hours\nWe open at 11:00 now.\n", encoding="utf-8")
    index = engine.reload_knowledge()
    assert index is not None and len(index.facts.sections) == 1
    facts.write_text("", encoding="utf-8")
    with pytest.raises(FactsError, match=r"knowledge\.file"):
        engine.reload_knowledge()
    await engine.reply([], "When do you open?", CALM).text()
    assert "We open at 11:00 now." in system_prompts(server)[-1]


async def test_a_bare_yes_or_no_is_written_again_in_full(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["No."], ["No, we open every day from 10:00 to 20:00."]]
    stream = engine.reply([], "Are you closed on Sundays?", CALM)
    assert await stream.text() == "No, we open every day from 10:00 to 20:00."
    assert len(server.chat_requests()) == 2


async def test_a_reply_in_the_wrong_language_twice_is_handed_off(
    server: FakeOpenAIServer, engine: RemoteMoodEngine
) -> None:
    server.next_replies = [["我们的电话是多少呢不知道。"], ["我们的电话是多少呢不知道。"]]
    stream = engine.reply([], "What's your phone number?", CALM)
    assert await stream.text() == HANDOFF_REPLIES["en"]["neutral"]
    assert stream.handoff is not None
    assert len(server.chat_requests()) == 2
