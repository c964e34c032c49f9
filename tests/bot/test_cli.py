"""The `moodbot` command line on the tiny model: analyze, eval, chat and config errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from bot.cli.main import main


@pytest.fixture
def config_file(tmp_path: Path, tiny_model_dir: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[model]\nname = "{tiny_model_dir}"\n\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "chat.db"}"\n\n'
        "[reply]\nmax_new_tokens = 16\ntemperature = 0.0\n",
        encoding="utf-8",
    )
    return path


def test_analyze_csv_adds_mood_and_confidence(tmp_path: Path, config_file: Path) -> None:
    source = tmp_path / "reviews.csv"
    source.write_text('id,comment\n1,"Great, thanks!"\n2,太差了\n3,"a, b, c"\n', encoding="utf-8")
    assert main(["--config", str(config_file), "analyze", str(source), "--column", "comment"]) == 0
    with (tmp_path / "reviews.moods.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == ["1", "2", "3"]
    assert [row["comment"] for row in rows] == ["Great, thanks!", "太差了", "a, b, c"]
    for row in rows:
        assert row["mood"] in {"positive", "negative", "neutral"}
        assert 0.0 <= float(row["confidence"]) <= 1.0


def test_analyze_jsonl_keeps_every_field(tmp_path: Path, config_file: Path) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text(
        '{"text": "hello", "user": 7}\n\n{"text": "再见", "user": 8}\n', encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    assert main(["--config", str(config_file), "analyze", str(source), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(row["text"], row["user"]) for row in rows] == [("hello", 7), ("再见", 8)]
    assert all(row["mood"] in {"positive", "negative", "neutral"} for row in rows)


def test_analyze_reports_a_missing_column(tmp_path: Path, config_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "bad.csv"
    source.write_text("id,body\n1,hi\n", encoding="utf-8")
    assert main(["--config", str(config_file), "analyze", str(source)]) == 1
    assert "no 'text' column" in capsys.readouterr().err


def test_eval_prints_and_writes_the_scores(tmp_path: Path, config_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "dev.jsonl"
    lines = [
        {"text": "love it", "label": "positive", "source": "a"},
        {"text": "hate it", "label": "negative", "source": "a"},
        {"text": "it is a chair", "label": "neutral", "source": "b"},
        {"text": "很好", "label": "positive", "source": "b"},
    ]
    source.write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8"
    )
    assert main(["--config", str(config_file), "eval", str(source)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "macro-F1" in printed
    assert "zh  items 1" in printed and "en  items 3" in printed
    assert "negative recall" in printed and "share in neutral: positive" in printed
    report = json.loads((tmp_path / "dev.eval.json").read_text(encoding="utf-8"))
    assert report["count"] == 4
    assert sum(sum(row.values()) for row in report["confusion"].values()) == 4
    assert set(report["per_source_accuracy"]) == {"a", "b"}
    assert set(report["per_language"]) == {"en", "zh"}
    assert set(report["neutral_share"]) == {"positive", "negative", "neutral"}
    correct = sum(report["confusion"][label][label] for label in report["confusion"])
    assert report["accuracy"] == pytest.approx(correct / 4, abs=1e-4)


def test_eval_rejects_unknown_labels(tmp_path: Path, config_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "dev.jsonl"
    source.write_text('{"text": "x", "label": "happy"}\n', encoding="utf-8")
    assert main(["--config", str(config_file), "eval", str(source)]) == 1
    assert "'happy'" in capsys.readouterr().err


def test_chat_goes_through_the_pipeline_and_database(
    tmp_path: Path,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hello there\n\n我的快递丢了\n/quit\n"))
    assert main(["--config", str(config_file), "chat", "--user", "5"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("[") >= 2  # one "[mood confidence]" per answered message
    with sqlite3.connect(tmp_path / "chat.db") as db:
        rows = db.execute("SELECT role, status, mood_label FROM messages ORDER BY id").fetchall()
    assert [row[0] for row in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[0][1] == "answered" and rows[0][2] in {"positive", "negative", "neutral"}


def test_config_error_names_the_key(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text("[reply]\ntemperature = 'hot'\n", encoding="utf-8")
    assert main(["--config", str(path), "chat"]) == 2
    assert "reply.temperature" in capsys.readouterr().err


@pytest.mark.parametrize("before_the_command", [True, False])
def test_config_is_accepted_on_either_side_of_the_command(
    tmp_path: Path,
    before_the_command: bool,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[reply]\ntemperature = 'hot'\n", encoding="utf-8")
    config = ["--config", str(path)]
    argv = [*config, "chat"] if before_the_command else ["chat", *config]
    # The config file was read: its bad key is named.
    assert main(argv) == 2
    assert "reply.temperature" in capsys.readouterr().err


def test_config_after_an_operator_command_is_read(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text("[database]\nurl = 7\n", encoding="utf-8")
    assert main(["moods", "--since", "1d", "--config", str(path)]) == 2
    assert "database.url" in capsys.readouterr().err
