"""Mood latency: today's classification prompts against the ones before issue 11, same run.

Run: .venv/bin/python -m bench.mood [--runs N]
Prints one JSON object. Both classifiers share one loaded model and take turns on the same
messages, so their ratio holds on a busy machine even when the absolute figures do not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from bench.engine import MESSAGES, summary
from engine.config import EngineConfig
from engine.language import Language
from engine.loading import load_model
from engine.mood import MoodClassifier
from engine.prompts import CLASSIFICATION_PROMPTS, TEXT_SLOT, ClassificationPrompt

# The prompts as they were before issue 11 (no neutral word, no calibration).
BEFORE_ISSUE_11: dict[Language, ClassificationPrompt] = {
    "en": ClassificationPrompt(
        system="You are a sentiment classifier. Answer with one word: positive or negative.",
        user=(
            "Is the feeling of this customer message positive or negative?\n"
            f"Message: {TEXT_SLOT}\n"
            "Answer with one word: positive or negative."
        ),
        label_words={"positive": "positive", "negative": "negative"},
    ),
    "zh": ClassificationPrompt(
        system="你是情感分类器。只回答一个词：正面 或 负面。",
        user=f"判断这条客户留言的情感是正面还是负面。\n留言：{TEXT_SLOT}",
        label_words={"positive": "正面", "negative": "负面"},
        answer_prefix="这条留言的情感是",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10, help="rounds over the messages")
    args = parser.parse_args()

    loaded = load_model(EngineConfig())
    thresholds: dict[Language, float] = {"en": 0.9, "zh": 0.8}
    classifiers = {
        "before": MoodClassifier(loaded.model, loaded.tokenizer, thresholds, BEFORE_ISSUE_11),
        "now": MoodClassifier(loaded.model, loaded.tokenizer, thresholds, CLASSIFICATION_PROMPTS),
    }
    times: dict[str, list[float]] = {name: [] for name in classifiers}
    for classifier in classifiers.values():
        classifier.classify_many(MESSAGES[:1])  # warm-up: first calls allocate and pick kernels
    for _ in range(args.runs):
        for text in MESSAGES:
            # Alternating keeps a change in the machine's load from favouring either side.
            for name, classifier in classifiers.items():
                started = time.perf_counter()
                classifier.classify_many([text])
                times[name].append(time.perf_counter() - started)
    result = {
        "threads": torch.get_num_threads(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "messages": len(MESSAGES) * args.runs,
        "mood_before_issue_11": summary(times["before"]),
        "mood_now": summary(times["now"]),
        "p50_ratio_now_over_before": round(
            statistics.median(times["now"]) / statistics.median(times["before"]), 3
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
