"""`moodbot analyze --intent` and `moodbot eval` on intents, on a stand-in engine whose moods
and intents the tests choose by the words of each text."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import pytest

from bot.cli import main as cli
from bot.cli.batch import (
    NO_INTENT,
    EvalResults,
    analyze,
    format_report,
    format_results,
    read_gold,
    run_eval,
    write_report,
)
from engine.config import DEFAULT_INTENTS, EngineConfig
from engine.protocol import Engine
from engine.types import Intent, Mood

INTENTS = tuple(DEFAULT_INTENTS)


class IntentEngine:
    """Negative for texts with "bad" or "差", positive otherwise; the intent returns for
    "refund" or "退", shipping for "parcel" or "快递", none at all for "blank", else other."""

    closed = False

    def classify_many_sync(self, texts: Sequence[str]) -> list[Mood]:
        return [self._mood(text) for text in texts]

    @staticmethod
    def _mood(text: str) -> Mood:
        label = "negative" if "bad" in text or "差" in text else "positive"
        if "blank" in text:
            return Mood(label, 0.9)
        if "refund" in text or "退" in text:
            intent = Intent("returns", 0.8123456)
        elif "parcel" in text or "快递" in text:
            intent = Intent("shipping", 0.7)
        else:
            intent = Intent("other", 0.55)
        return Mood(label, 0.9, intent=intent)

    def close(self) -> None:
        self.closed = True


def write_jsonl(path: Path, records: Sequence[dict[str, object]]) -> Path:
    path.write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        encoding="utf-8",
    )
    return path


def engine() -> Engine:
    return cast(Engine, IntentEngine())


# --- moodbot analyze --intent ----------------------------------------------------------------


def test_analyze_with_intent_adds_the_intent_and_its_confidence(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "texts.jsonl",
        [{"text": "bad, I want a refund", "id": 1}, {"text": "快递到哪了", "id": 2}],
    )
    target = tmp_path / "out.jsonl"

    assert analyze(engine(), source, target, "text", 8, intent=True) == 2

    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert rows == [
        {
            "text": "bad, I want a refund",
            "id": 1,
            "mood": "negative",
            "confidence": 0.9,
            "intent": "returns",
            "intent_confidence": 0.8123,
        },
        {
            "text": "快递到哪了",
            "id": 2,
            "mood": "positive",
            "confidence": 0.9,
            "intent": "shipping",
            "intent_confidence": 0.7,
        },
    ]


def test_analyze_with_intent_writes_csv_columns_and_blanks_where_none_was_read(
    tmp_path: Path,
) -> None:
    source = tmp_path / "texts.csv"
    source.write_text("id,text\n1,parcel late\n2,blank stare\n", encoding="utf-8")
    target = tmp_path / "out.csv"

    analyze(engine(), source, target, "text", 1, intent=True)

    with target.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["id", "text", "mood", "confidence", "intent", "intent_confidence"]
    assert [(row["intent"], row["intent_confidence"]) for row in rows] == [
        ("shipping", "0.7"),
        ("", ""),
    ]


def test_analyze_without_intent_writes_what_it_always_did(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "texts.jsonl", [{"text": "refund please"}])
    target = tmp_path / "out.jsonl"

    analyze(engine(), source, target, "text", 8)

    assert json.loads(target.read_text(encoding="utf-8")) == {
        "text": "refund please",
        "mood": "positive",
        "confidence": 0.9,
    }


# --- moodbot eval: gold files with intents ---------------------------------------------------

MIXED = [
    {"text": "bad refund", "label": "negative", "intent": "returns"},
    {"text": "parcel please", "intent": "shipping"},
    {"text": "我要退货", "intent": "returns"},
    {"text": "快递太差了", "intent": "returns"},
    {"text": "blank", "intent": "other"},
    {"text": "great, thanks", "label": "positive"},
    {"text": "bad day", "label": "positive"},
]


def test_gold_lines_may_have_a_label_an_intent_or_both(tmp_path: Path) -> None:
    gold = read_gold(write_jsonl(tmp_path / "gold.jsonl", MIXED), INTENTS)

    assert gold.labels == ["negative", None, None, None, None, "positive", "positive"]
    assert gold.intents == ["returns", "shipping", "returns", "returns", "other", None, None]
    assert gold.has_labels and gold.has_intents


@pytest.mark.parametrize(
    ("record", "intents", "message"),
    [
        ({"text": "x"}, INTENTS, "record 1 has neither a label"),
        ({"text": "x", "intent": "refunds"}, INTENTS, "record 1 has intent 'refunds'"),
        ({"text": "x", "label": "happy", "intent": "returns"}, INTENTS, "label 'happy'"),
        ({"text": "x", "intent": "returns"}, (), "triage is off"),
    ],
)
def test_gold_lines_that_cannot_be_scored_are_refused(
    tmp_path: Path, record: dict[str, object], intents: tuple[str, ...], message: str
) -> None:
    source = write_jsonl(tmp_path / "gold.jsonl", [record])

    with pytest.raises(ValueError, match=message):
        read_gold(source, intents)


def test_eval_scores_moods_over_labelled_lines_and_intents_over_intent_lines(
    tmp_path: Path,
) -> None:
    gold = read_gold(write_jsonl(tmp_path / "gold.jsonl", MIXED), INTENTS)

    results = run_eval(engine(), gold, 2)

    assert results.moods is not None and results.intents is not None
    assert results.moods.count == 3
    assert results.moods.accuracy == pytest.approx(2 / 3)
    intents = results.intents
    assert intents.count == 5
    # "快递太差了" reads as shipping and "blank" as no intent at all: 3 of 5 right.
    assert intents.accuracy == pytest.approx(3 / 5)
    assert intents.confusion["returns"] == {
        "returns": 2,
        "shipping": 1,
        "other": 0,
        NO_INTENT: 0,
    }
    assert intents.confusion["other"][NO_INTENT] == 1
    assert {lang: part.count for lang, part in intents.per_language.items()} == {
        "en": 3,
        "zh": 2,
    }


def test_eval_prints_and_writes_the_intent_scores(tmp_path: Path) -> None:
    gold = read_gold(write_jsonl(tmp_path / "gold.jsonl", MIXED), INTENTS)
    results = run_eval(engine(), gold, 8)
    target = tmp_path / "report.json"

    text = format_results(results)
    write_report(results, target, EngineConfig())

    assert results.moods is not None and results.intents is not None
    moods, intents = text.split("\n\nintents\n\n")
    assert moods == format_report(results.moods), "the moods read as ever"
    lines = intents.splitlines()
    assert lines[:3] == [
        "items     5",
        "accuracy  0.600",
        f"macro-F1  {results.intents.macro_f1:.3f}  (over the 3 intents of the gold lines)",
    ]
    header = lines[lines.index("confusion (rows: gold, columns: predicted)") + 1]
    # The gold intents, most frequent first (ties by name), then what else was predicted.
    assert header.split() == ["returns", "other", "shipping", NO_INTENT]
    assert any(line.split() == ["returns", "2", "0", "1", "0"] for line in lines)
    assert "  zh  items 2  accuracy 0.500  macro-F1 " in intents
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["count"] == 3 and report["neutral_threshold"] is not None
    assert report["intents"] == json.loads(json.dumps(results.intents.as_dict()))


def test_an_intent_only_gold_file_reports_intents_only(tmp_path: Path) -> None:
    records = [{"text": "refund", "intent": "returns"}, {"text": "parcel", "intent": "shipping"}]
    gold = read_gold(write_jsonl(tmp_path / "gold.jsonl", records), INTENTS)
    results = run_eval(engine(), gold, 8)
    target = tmp_path / "report.json"

    write_report(results, target, EngineConfig())

    assert results.moods is None
    assert format_results(results).startswith("intents\n\nitems     2\naccuracy  1.000")
    report = json.loads(target.read_text(encoding="utf-8"))
    assert set(report) == {"model", "intents"}
    assert report["intents"]["accuracy"] == 1.0


def test_a_mood_only_gold_file_reads_as_before(tmp_path: Path) -> None:
    gold = read_gold(write_jsonl(tmp_path / "gold.jsonl", MIXED[5:]), INTENTS)
    results = run_eval(engine(), gold, 8)
    target = tmp_path / "report.json"

    write_report(results, target, EngineConfig())

    assert results == EvalResults(results.moods, None)
    assert results.moods is not None
    assert format_results(results) == format_report(results.moods)
    assert "intents" not in json.loads(target.read_text(encoding="utf-8"))


# --- through the command line ----------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "bot.db"}"\n', encoding="utf-8"
    )
    return path


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> IntentEngine:
    """The CLI's model: the stand-in engine instead of loading one."""
    loaded = IntentEngine()
    monkeypatch.setattr(cli, "load_engine", lambda config: loaded)
    return loaded


def test_the_eval_command_prints_and_writes_json(
    tmp_path: Path,
    config_file: Path,
    stand_in: IntentEngine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_jsonl(tmp_path / "gold.jsonl", MIXED)
    out = tmp_path / "scores.json"

    assert cli.main(["--config", str(config_file), "eval", str(source), "--json", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "\nintents\n\nitems     5\naccuracy  0.600\n" in printed
    assert printed.startswith("items     3\n")
    assert printed.rstrip().endswith(f"report written to {out}")
    assert json.loads(out.read_text(encoding="utf-8"))["intents"]["count"] == 5
    assert stand_in.closed


def test_the_analyze_command_adds_intents(
    tmp_path: Path, config_file: Path, stand_in: IntentEngine
) -> None:
    source = write_jsonl(tmp_path / "texts.jsonl", [{"text": "refund"}])

    assert cli.main(["--config", str(config_file), "analyze", str(source), "--intent"]) == 0

    [row] = (tmp_path / "texts.moods.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(row)["intent"] == "returns"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["analyze", "{source}", "--intent"], "--intent needs triage"),
        (["eval", "{source}"], "triage is off"),
    ],
)
def test_intents_with_triage_off_are_refused_before_the_model_loads(
    tmp_path: Path,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    message: str,
) -> None:
    config_file.write_text(
        config_file.read_text(encoding="utf-8") + "\n[triage]\nenabled = false\n",
        encoding="utf-8",
    )
    source = write_jsonl(tmp_path / "gold.jsonl", [{"text": "refund", "intent": "returns"}])

    def no_model(config: object) -> Engine:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(cli, "load_engine", no_model)
    argv = [part.format(source=source) for part in command]

    assert cli.main(["--config", str(config_file), *argv]) == 1
    assert message in capsys.readouterr().err
