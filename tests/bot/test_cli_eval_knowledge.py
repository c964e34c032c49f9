"""`moodbot eval-knowledge` through the OpenAI-compatible backend (a fake server writes the
replies): the counts and the JSON report's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.fake_openai import FakeOpenAIServer

FACTS = "## Hours\nWe open at 9:00 every day.\n\n## Shipping\nShipping is free over 199 yuan.\n"
QUESTIONS = [
    {"question": "When do you open?", "covered": True, "expect_any": ["9:00", "9 am"]},
    {"question": "Is shipping free?", "covered": True, "expect_any": ["over 199"]},
    {"question": "How much is the kettle?", "covered": False},
    {"question": "Where is my order 5521?", "covered": False},
]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def write_files(tmp_path: Path, server: FakeOpenAIServer) -> tuple[Path, Path, Path]:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\nbackend = "openai"\napi_base = "{server.base_url}"\napi_model = "qwen-test"\n',
        encoding="utf-8",
    )
    facts = tmp_path / "facts.md"
    facts.write_text(FACTS, encoding="utf-8")
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps(question) + "\n" for question in QUESTIONS), encoding="utf-8"
    )
    return config, facts, questions


def test_counts_and_json_report(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config, facts, questions = write_files(tmp_path, server)
    server.next_replies = [
        ["We open at 9:00 every day."],
        # It passes the checks (the statement's number, its words) and is still wrong.
        ["Yes, it is free from 199 yuan."],
        ["The kettle costs 89 yuan."],
        ["The kettle costs 89 yuan, really."],
    ]
    report = tmp_path / "report.json"
    arguments = ["--config", str(config), "eval-knowledge", str(questions)]
    arguments += ["--knowledge", str(facts), "--verbose", "--json", str(report)]

    assert main(arguments) == 0

    out = capsys.readouterr().out
    assert "covered questions answered right: 1 of 2" in out
    assert "uncovered questions with an invented number: 0 of 2" in out
    assert "uncovered questions handed off: 2 of 2" in out
    assert "When do you open?\n  → We open at 9:00 every day." in out
    document = json.loads(report.read_text(encoding="utf-8"))
    assert {key: value for key, value in document.items() if key != "questions"} == {
        "covered": 2,
        "covered_right": 1,
        "covered_wrong": 1,
        "covered_handed_off": 0,
        "covered_pick_right": 2,
        "uncovered": 2,
        "uncovered_invented_number": 0,
        "uncovered_handed_off": 2,
    }
    assert [set(entry) for entry in document["questions"]] == [
        {
            "question",
            "answer",
            "covered",
            "right",
            "wrong",
            "picked",
            "invented_number",
            "handed_off",
        }
    ] * 4
    assert [entry["wrong"] for entry in document["questions"]] == [False, True, False, False]
    assert [entry["right"] for entry in document["questions"]] == [True, False, False, False]
    assert [entry["handed_off"] for entry in document["questions"]] == [False, False, True, True]
    assert all(
        request["temperature"] == 0.0 for request in server.chat_requests() if request.get("stream")
    )


def test_a_price_invented_twice_is_handed_off_not_counted_as_invented(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config, facts, _ = write_files(tmp_path, server)
    uncovered = tmp_path / "uncovered.jsonl"
    uncovered.write_text(json.dumps(QUESTIONS[2]) + "\n", encoding="utf-8")
    # The guard hands off the invented price; the judge counts what the customer would get.
    server.next_replies = [["It is 89 yuan."], ["It is 89 yuan."]]
    arguments = ["--config", str(config), "eval-knowledge", str(uncovered)]
    assert main([*arguments, "--knowledge", str(facts)]) == 0
    out = capsys.readouterr().out
    assert "uncovered questions with an invented number: 0 of 1" in out
    assert "uncovered questions handed off: 1 of 1" in out


def test_a_bad_question_file_is_reported_with_its_line(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config, facts, questions = write_files(tmp_path, server)
    questions.write_text('{"question": "hi", "covered": true}\n', encoding="utf-8")
    arguments = ["--config", str(config), "eval-knowledge", str(questions)]
    assert main([*arguments, "--knowledge", str(facts)]) == 1
    assert f"{questions}:1: a covered question needs 'expect_any'" in capsys.readouterr().err
