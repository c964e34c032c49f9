"""`moodbot gaps` and `moodbot facts export` on a seeded database, and the grouping of
handed-off questions by what they ask."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.cli.main import main
from engine.knowledge.facts import parse_facts
from engine.knowledge.gaps import common_words, group_questions
from storage import CustomerInfo, Database, Store, migrations
from storage.desk import Conversation, DeskStore
from storage.desk_facts import DeskFacts
from storage.models import Message
from tests.operators.test_operator_cli import run, write_config

ANN = CustomerInfo(id=100_001, name="Ann", username="ann_k", language="en")
BO = CustomerInfo(id=100_002, name="波")
OPERATOR = 900_001
NOW = datetime(2024, 5, 7, 16, 5, tzinfo=UTC)


async def _hand_off(
    database: Database, customer: CustomerInfo, text: str, telegram_id: int, age: timedelta
) -> int:
    store = Store(database)
    message, _ = await store.record_incoming(customer.id, customer, text, telegram_id)
    await store.mark_handed_off(message.id, "the facts do not answer it", NOW - age)
    async with database.session() as session, session.begin():
        await session.execute(
            update(Message).where(Message.id == message.id).values(created_at=NOW - age)
        )
    return message.id


async def _seed(url: str) -> None:
    database = Database(url)
    await database.connect()
    await migrations.upgrade(database)
    try:
        question = await _hand_off(database, ANN, "Do you sell gift cards?", 1, timedelta(hours=5))
        answer = await DeskStore(database).record_operator_message(
            Conversation(ANN.id, ANN.id), OPERATOR, "Yes, of 100 and 200 yuan.", 2, NOW
        )
        await DeskFacts(database).save(question, answer.id, OPERATOR, NOW)
        await _hand_off(database, BO, "发票怎么开？", 3, timedelta(hours=3))
        await _hand_off(database, BO, "Gift card for my mum?", 4, timedelta(hours=2))
        await _hand_off(database, BO, "能开发票吗", 5, timedelta(hours=1))
        await _hand_off(database, ANN, "Do you repair bikes?", 6, timedelta(days=9))
    finally:
        await database.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite+aiosqlite:///{tmp_path / 'moodbot.db'}"
    asyncio.run(_seed(url))
    return write_config(tmp_path, url)


def test_gaps_lists_the_groups_most_frequent_first(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "gaps") == 0
    lines = capsys.readouterr().out.splitlines()

    assert lines[0] == (
        "4 questions handed to a person since 2024-05-01 00:05 (Asia/Shanghai), in 2 groups:"
    )
    assert lines[2] == "1. card, gift: asked 2×, 1 answered by an operator, 1 saved as a fact"
    assert lines[3] == "   “Do you sell gift cards?” · “Gift card for my mum?”"
    assert lines[5].startswith("2. 发票") and "asked 2×, 0 answered" in lines[5]


def test_gaps_as_json_and_over_a_longer_period(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "gaps", "--since", "30d", "--format", "json") == 0
    groups = json.loads(capsys.readouterr().out)

    assert [group["asked"] for group in groups] == [2, 2, 1]
    assert groups[0]["saved_as_fact"] == 1
    assert groups[2]["questions"][0]["text"] == "Do you repair bikes?"


def test_gaps_explains_a_bad_period(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(config, "gaps", "--since", "soon")
    assert "is not a number of hours or days" in capsys.readouterr().err


def test_facts_export_writes_a_facts_file_section_per_desk_fact(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "desk-facts.md"
    assert run(config, "facts", "export", "--out", str(out)) == 0

    assert "1 desk facts →" in capsys.readouterr().out
    [section] = parse_facts(out.read_text(encoding="utf-8"))
    assert (section.title, section.body) == ("Do you sell gift cards?", "Yes, of 100 and 200 yuan.")


def test_facts_export_without_desk_facts_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert main(["--config", str(write_config(tmp_path, url)), "migrate"]) == 0
    capsys.readouterr()

    assert run(write_config(tmp_path, url), "facts", "export") == 1
    assert "no desk facts are in use" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("texts", "groups"),
    [
        # Reworded in either language, the same question is one group.
        (["Do you sell gift cards?", "gift card price?", "Do you ship to Japan?"], [[0, 1], [2]]),
        (["你们能开发票吗？", "营业时间是几点？", "发票怎么开？", "周末营业吗"], [[0, 2], [1, 3]]),
        # A greeting shares no word with anything: it stands alone.
        (["hello", "hi there"], [[0], [1]]),
        # The largest group first, whenever it was asked.
        (["Open on Sunday?", "Refund please", "refund my order", "refunds?"], [[1, 2, 3], [0]]),
    ],
)
def test_questions_are_grouped_by_what_they_ask(texts: list[str], groups: list[list[int]]) -> None:
    assert group_questions(texts) == groups


def test_a_groups_words_are_those_most_of_its_questions_share() -> None:
    assert common_words(["Do you sell gift cards?", "Gift card for my mum?"]) == ["card", "gift"]
    assert common_words(["Refund please", "refund my order", "refunds?"]) == ["refund"]
