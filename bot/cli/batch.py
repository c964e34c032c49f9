"""`moodbot analyze` and `moodbot eval`: the mood classifier (and triage's intents) over whole
files."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bot.cli.text_files import Row, read_rows, write_rows
from engine.config import EngineConfig
from engine.evaluation import EvalReport, IntentEvalReport, evaluate, evaluate_intents
from engine.keywords import complaint_keywords
from engine.protocol import Engine
from engine.types import Mood
from engine.vocabulary import MOOD_LABELS


def classify_rows(engine: Engine, rows: Sequence[Row], batch_size: int) -> list[Mood]:
    moods: list[Mood] = []
    with tqdm(total=len(rows), desc="tagging", unit="text", file=sys.stderr) as bar:
        for start in range(0, len(rows), batch_size):
            chunk = [row.text for row in rows[start : start + batch_size]]
            moods.extend(engine.classify_many_sync(chunk))
            bar.update(len(chunk))
    return moods


def keywords_of_negatives(engine: Engine, rows: Sequence[Row], moods: Sequence[Mood]) -> list[str]:
    """The complaint keywords of each negative text ("" for the others), comma-separated."""

    async def all_keywords() -> list[str]:
        found = []
        for row, mood in tqdm(
            list(zip(rows, moods, strict=True)), desc="keywords", unit="text", file=sys.stderr
        ):
            words = await complaint_keywords(engine, row.text) if mood.label == "negative" else []
            found.append(", ".join(words))
        return found

    return asyncio.run(all_keywords())


def analyze(
    engine: Engine,
    source: Path,
    target: Path,
    column: str,
    batch_size: int,
    *,
    keywords: bool = False,
    intent: bool = False,
) -> int:
    """Tag every text of `source` into `target`: its mood and confidence; with `intent`, what
    it wants and the confidence in that (empty where the engine read no intent); with
    `keywords`, a negative text's complaint keywords."""
    rows = read_rows(source, column)
    moods = classify_rows(engine, rows, batch_size)
    tagged: list[dict[str, object]] = [
        {**row.fields, "mood": mood.label, "confidence": round(mood.confidence, 4)}
        for row, mood in zip(rows, moods, strict=True)
    ]
    if intent:
        for record, mood in zip(tagged, moods, strict=True):
            read = mood.intent
            record["intent"] = None if read is None else read.name
            record["intent_confidence"] = None if read is None else round(read.confidence, 4)
    if keywords:
        for record, words in zip(tagged, keywords_of_negatives(engine, rows, moods), strict=True):
            record["keywords"] = words
    write_rows(target, tagged)
    return len(rows)


# Where the engine read no intent for a gold line's text: a wrong prediction.
NO_INTENT = "(none)"


@dataclass(frozen=True)
class GoldSet:
    """A labelled file: every line has a mood "label", an "intent", or both."""

    rows: list[Row]
    labels: list[str | None]
    intents: list[str | None]

    @property
    def has_labels(self) -> bool:
        return any(label is not None for label in self.labels)

    @property
    def has_intents(self) -> bool:
        return any(intent is not None for intent in self.intents)


@dataclass(frozen=True)
class EvalResults:
    """The moods' scores over the lines with a label, the intents' over those with an intent;
    None where no line has one."""

    moods: EvalReport | None
    intents: IntentEvalReport | None


def read_gold(source: Path, intents: Sequence[str] = ()) -> GoldSet:
    """The gold lines of `source`; ValueError naming the first line that is not a mood label
    or one of the configured `intents` (none with triage off)."""
    rows = read_rows(source, "text")
    labels: list[str | None] = []
    wanted: list[str | None] = []
    for number, row in enumerate(rows, start=1):
        label, intent = row.fields.get("label"), row.fields.get("intent")
        if label is None and intent is None:
            raise ValueError(
                f"{source}: record {number} has neither a label (one of {MOOD_LABELS}) nor "
                "an intent"
            )
        if label is not None and label not in MOOD_LABELS:
            raise ValueError(
                f"{source}: record {number} has label {label!r}; expected one of {MOOD_LABELS}"
            )
        if intent is not None and not intents:
            raise ValueError(
                f"{source}: record {number} has an intent, but triage is off "
                "([triage] enabled = false): no intents are read"
            )
        if intent is not None and intent not in intents:
            raise ValueError(
                f"{source}: record {number} has intent {intent!r}; expected one of the "
                f"configured intents ({', '.join(intents)})"
            )
        labels.append(None if label is None else str(label))
        wanted.append(None if intent is None else str(intent))
    return GoldSet(rows, labels, wanted)


def run_eval(engine: Engine, gold: GoldSet, batch_size: int) -> EvalResults:
    moods = classify_rows(engine, gold.rows, batch_size)
    texts = [row.text for row in gold.rows]
    mood_report = None
    if gold.has_labels:
        picked = [i for i, label in enumerate(gold.labels) if label is not None]
        mood_report = evaluate(
            [str(gold.labels[i]) for i in picked],
            [moods[i].label for i in picked],
            [str(gold.rows[i].fields.get("source", "")) for i in picked],
            [texts[i] for i in picked],
        )
    intent_report = None
    if gold.has_intents:
        picked = [i for i, intent in enumerate(gold.intents) if intent is not None]
        read = [moods[i].intent for i in picked]
        intent_report = evaluate_intents(
            [str(gold.intents[i]) for i in picked],
            [NO_INTENT if intent is None else intent.name for intent in read],
            [texts[i] for i in picked],
        )
    return EvalResults(mood_report, intent_report)


def format_report(report: EvalReport) -> str:
    lines = [
        f"items     {report.count}",
        f"accuracy  {report.accuracy:.3f}",
        f"macro-F1  {report.macro_f1:.3f}  (over {', '.join(report.labels)})",
        "",
        "confusion (rows: gold, columns: predicted)",
        "            " + "".join(f"{label:>10}" for label in MOOD_LABELS),
    ]
    for gold, row in report.confusion.items():
        lines.append(f"{gold:>10}  " + "".join(f"{row[label]:>10}" for label in MOOD_LABELS))
    if report.per_language:
        lines += ["", "per language"]
        lines += [_language_line(language, part) for language, part in report.per_language.items()]
    if report.per_source_accuracy:
        lines += ["", "accuracy per source"]
        lines += [f"  {acc:.3f}  {source}" for source, acc in report.per_source_accuracy.items()]
    return "\n".join(lines)


def _language_line(language: str, report: EvalReport) -> str:
    recall = "—" if report.negative_recall is None else f"{report.negative_recall:.3f}"
    neutral = ", ".join(f"{gold} {share:.3f}" for gold, share in report.neutral_share.items())
    return (
        f"  {language}  items {report.count}  accuracy {report.accuracy:.3f}  "
        f"macro-F1 {report.macro_f1:.3f}  negative recall {recall}  "
        f"share in neutral: {neutral}"
    )


def format_intent_report(report: IntentEvalReport) -> str:
    columns = report.columns
    width = max(8, *(len(name) + 2 for name in columns))
    lines = [
        f"items     {report.count}",
        f"accuracy  {report.accuracy:.3f}",
        f"macro-F1  {report.macro_f1:.3f}  (over the {len(report.intents)} intents of the gold "
        "lines)",
        "",
        "F1 per intent",
        *(f"  {f1:.3f}  {intent}" for intent, f1 in report.per_intent_f1.items()),
        "",
        "confusion (rows: gold, columns: predicted)",
        " " * width + "".join(f"{name:>{width}}" for name in columns),
    ]
    for gold, row in report.confusion.items():
        lines.append(f"{gold:>{width}}" + "".join(f"{row[name]:>{width}}" for name in columns))
    if report.per_language:
        lines += ["", "per language"]
        lines += [
            f"  {language}  items {part.count}  accuracy {part.accuracy:.3f}  "
            f"macro-F1 {part.macro_f1:.3f}"
            for language, part in report.per_language.items()
        ]
    return "\n".join(lines)


def format_results(results: EvalResults) -> str:
    """The moods' scores as ever, then the intents' under their own heading."""
    parts = []
    if results.moods is not None:
        parts.append(format_report(results.moods))
    if results.intents is not None:
        parts.append(f"intents\n\n{format_intent_report(results.intents)}")
    return "\n\n".join(parts)


def write_report(results: EvalResults, target: Path, engine: EngineConfig) -> None:
    """The scores as JSON: the moods' at the top level as ever, the intents' under "intents"."""
    payload: dict[str, object] = {"model": engine.model}
    if results.moods is not None:
        payload |= {
            "neutral_threshold": engine.neutral_threshold_for("en"),
            "neutral_threshold_zh": engine.neutral_threshold_for("zh"),
            **results.moods.as_dict(),
        }
    if results.intents is not None:
        payload["intents"] = results.intents.as_dict()
    target.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
