"""A batch job beside the bot: the bot's mood latency while `moodbot analyze` tags a file on the
same machine, at the batch command's default priority (idle) and at normal priority.

Run: .venv/bin/python -m bench.batch_beside_bot [--dtype bf16|int4] [--texts 20]

This process plays the bot: it loads the engine and tags customer messages one at a time (as
the bot does, each on its own), first on a quiet machine, then while `moodbot analyze` runs in
another process. Prints one JSON object: the bot's mood p50/p95 in each case and the ratios to
the quiet figure (issue 20 asks for at most 1.3x), with the machine's CPU capability and load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from engine.config import EngineConfig
from engine.mood_engine import MoodEngine

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT.parent / "shared" / "data"
# The batch job's file: long enough to outlast every measurement.
BATCH_TEXTS = 2000
# Seconds the batch job gets to load its model and start tagging before the bot is measured.
BATCH_START_GRACE = 5.0


def dev_texts() -> list[str]:
    texts = []
    for language in ("en", "zh"):
        path = SENTIMENT / f"{language}_sentiment_dev.jsonl"
        texts += [
            json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()
        ]
    return texts


def mood_latencies(engine: MoodEngine, texts: list[str]) -> dict[str, float]:
    seconds = []
    for text in texts:
        started = time.perf_counter()
        engine.classify_many_sync([text])
        seconds.append(time.perf_counter() - started)
    ordered = sorted(seconds)
    return {
        "p50_s": round(statistics.median(seconds), 3),
        "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


def start_batch(config: Path, texts: Path, out: Path, priority: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "--config",
            str(config),
            "analyze",
            str(texts),
            "--out",
            str(out),
            "--priority",
            priority,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "model ready" in line:
            break
    time.sleep(BATCH_START_GRACE)
    return process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", choices=("bf16", "int4"), default="bf16")
    parser.add_argument("--texts", type=int, default=20)
    args = parser.parse_args()
    corpus = dev_texts()
    probe = corpus[: args.texts]
    engine = MoodEngine.load(replace(EngineConfig(dtype=args.dtype), knowledge=None))
    results: dict[str, object] = {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average_before": os.getloadavg()[0],
        "dtype": args.dtype,
        "texts": len(probe),
    }
    try:
        engine.classify_many_sync(probe[:3])
        quiet = mood_latencies(engine, probe)
        results["quiet"] = quiet
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "batch.toml"
            config.write_text(f'[model]\ndtype = "{args.dtype}"\n', encoding="utf-8")
            batch_file = Path(folder) / "texts.jsonl"
            batch_file.write_text(
                "".join(
                    json.dumps({"text": corpus[i % len(corpus)]}, ensure_ascii=False) + "\n"
                    for i in range(BATCH_TEXTS)
                ),
                encoding="utf-8",
            )
            for priority in ("normal", "idle"):
                batch = start_batch(config, batch_file, Path(folder) / "out.jsonl", priority)
                try:
                    beside = mood_latencies(engine, probe)
                finally:
                    batch.terminate()
                    batch.wait(30)
                results[f"beside_batch_{priority}"] = {
                    **beside,
                    "p50_vs_quiet": round(beside["p50_s"] / quiet["p50_s"], 2),
                }
    finally:
        engine.close()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
