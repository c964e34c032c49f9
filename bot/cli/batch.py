"""`moodbot analyze` and `moodbot eval`: the mood classifier over whole files."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from bot.cli.text_files import Row, read_rows, write_rows
from engine.config import EngineConfig
from engine.evaluation import EvalReport, evaluate
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
) -> int:
    rows = read_rows(source, column)
    moods = classify_rows(engine, rows, batch_size)
    tagged: list[dict[str, object]] = [
        {**row.fields, "mood": mood.label, "confidence": round(mood.confidence, 4)}
        for row, mood in zip(rows, moods, strict=True)
    ]
    if keywords:
        for record, words in zip(tagged, keywords_of_negatives(engine, rows, moods), strict=True):
            record["keywords"] = words
    write_rows(target, tagged)
    return len(rows)


def run_eval(engine: Engine, source: Path, batch_size: int) -> EvalReport:
    rows = read_rows(source, "text")
    gold = []
    for number, row in enumerate(rows, start=1):
        label = row.fields.get("label")
        if label not in MOOD_LABELS:
            raise ValueError(
                f"{source}: record {number} has label {label!r}; expected one of {MOOD_LABELS}"
            )
        gold.append(str(label))
    moods = classify_rows(engine, rows, batch_size)
    sources = [str(row.fields.get("source", "")) for row in rows]
    texts = [row.text for row in rows]
    return evaluate(gold, [mood.label for mood in moods], sources, texts)


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


def write_report(report: EvalReport, target: Path, engine: EngineConfig) -> None:
    payload = {
        "model": engine.model,
        "neutral_threshold": engine.neutral_threshold_for("en"),
        "neutral_threshold_zh": engine.neutral_threshold_for("zh"),
        **report.as_dict(),
    }
    target.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
