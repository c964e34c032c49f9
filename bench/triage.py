"""What triage costs and what it reads: tagging with the intent beside the mood against the mood
alone, on the same loaded model, in one run.

Run: .venv/bin/python -m bench.triage [--dtype bf16|int4] [--latency 40] [--batch 200]
     [--scores] [--out FILE]

- latency: customer messages of tests/data/intent_dev.jsonl tagged one at a time (as the bot
  tags each message), mood-only and triage alternating per message; p50/p95 and the median
  added seconds (issue 17 allows 0.1 s);
- throughput: the first `--batch` texts of the mood dev sets tagged in batches of the engine's
  max_batch, as `moodbot analyze` does, each way (issue 17 allows 15 % less);
- `--scores`: intent accuracy, macro-F1 and confusion on the intent dev set, per language, and
  the mood dev sets' figures both ways (issue 17: moods within half a point).
Prints one JSON object, with the CPU's capability and the machine's load before the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from engine.config import EngineConfig
from engine.cpu import cpu_paths
from engine.evaluation import evaluate, evaluate_intents
from engine.local_backend import LocalBackend
from engine.mood import MoodClassifier
from engine.mood_engine import MoodEngine
from engine.types import Mood

ROOT = Path(__file__).resolve().parent.parent
INTENT_DEV = ROOT / "tests" / "data" / "intent_dev.jsonl"
SENTIMENT = ROOT.parent / "shared" / "data"

Classify = Callable[[Sequence[str]], list[Mood]]


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def sentiment_rows() -> list[dict[str, str]]:
    return [
        row
        for lang in ("en", "zh")
        for row in read_jsonl(SENTIMENT / f"{lang}_sentiment_dev.jsonl")
    ]


def latencies(ways: dict[str, Classify], texts: list[str]) -> dict[str, dict[str, float]]:
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for text in texts:
        # Alternating per message: both ways see the same machine state.
        for name, classify in ways.items():
            started = time.perf_counter()
            classify([text])
            seconds[name].append(time.perf_counter() - started)
    found = {}
    for name, values in seconds.items():
        ordered = sorted(values)
        found[name] = {
            "p50_s": round(statistics.median(values), 3),
            "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        }
    added = [t - m for t, m in zip(seconds["triage"], seconds["mood_only"], strict=True)]
    found["added_by_triage"] = {"median_s": round(statistics.median(added), 3)}
    return found


def throughput(ways: dict[str, Classify], texts: list[str], batch: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for name, classify in ways.items():
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            classify(texts[start : start + batch])
        found[f"{name}_texts_per_s"] = round(len(texts) / (time.perf_counter() - started), 3)
    found["triage_over_mood_only"] = round(
        found["triage_texts_per_s"] / found["mood_only_texts_per_s"], 3
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=("bf16", "int4"), default="bf16")
    parser.add_argument("--latency", type=int, default=40, help="messages timed one at a time")
    parser.add_argument("--batch", type=int, default=200, help="texts tagged in batches")
    parser.add_argument(
        "--scores", action="store_true", help="also the intent and mood dev sets' figures"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    engine = MoodEngine.load(replace(EngineConfig(), dtype=args.dtype))
    backend: LocalBackend = engine.backend
    triage = engine.config.triage
    assert triage is not None, "the default config reads intents"
    mood_only = MoodClassifier(
        backend.decoder,
        backend.tokenizer,
        {lang: engine.config.neutral_threshold_for(lang) for lang in ("en", "zh")},
    )
    ways: dict[str, Classify] = {
        "mood_only": mood_only.classify_many,
        "triage": backend.classifier.classify_many,
    }
    intents = read_jsonl(INTENT_DEV)
    texts = [row["text"] for row in intents]
    report: dict[str, object] = {
        **cpu_paths().describe(),
        "dtype": args.dtype,
        "load_before": round(load, 2),
        "latency": latencies(ways, texts[: args.latency]),
        "throughput": throughput(
            ways, [row["text"] for row in sentiment_rows()][: args.batch], engine.config.max_batch
        ),
    }
    if args.scores:
        read = []
        for start in range(0, len(texts), engine.config.max_batch):
            read += ways["triage"](texts[start : start + engine.config.max_batch])
        report["intents"] = evaluate_intents(
            [row["intent"] for row in intents],
            [mood.intent.name if mood.intent else "(none)" for mood in read],
            texts,
        ).as_dict()
        rows = sentiment_rows()
        gold = [row["label"] for row in rows]
        sentiment = [row["text"] for row in rows]
        report["moods"] = {}
        for name, classify in ways.items():
            moods = []
            for start in range(0, len(sentiment), engine.config.max_batch):
                moods += classify(sentiment[start : start + engine.config.max_batch])
            report["moods"][name] = {  # type: ignore[index]
                key: value
                for key, value in evaluate(gold, [m.label for m in moods], texts=sentiment)
                .as_dict()
                .items()
                if key in ("accuracy", "macro_f1", "negative_recall", "per_language")
            }
    engine.close()
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
