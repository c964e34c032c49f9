"""Quality of each weight format, side by side in one run: moods, grounded answers, replies.

Run: .venv/bin/python -m bench.quality [--dtypes bf16,int4] [--seeds 3] [--parts mood,replies]

Each format runs in a process of its own, one after the other, with the same checks:
- mood: accuracy, macro-F1 and negative recall on ../shared/data/{zh,en}_sentiment_dev.jsonl;
- knowledge: `moodbot eval-knowledge`'s totals on ../shared/data/knowledge (greedy);
- replies: tests/data/reply_set.jsonl (customer messages whose history holds a detail the reply
  needs) at the configured temperature with each seed, scored automatically: in the customer's
  language, not the canned fallback, at most three sentences, uses the history detail, no number
  the conversation does not hold, never sends the customer elsewhere ("contact customer
  service"). The spread between seeds is the noise a difference must exceed to mean anything.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.mood_engine import MoodEngine

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
REPLY_SET = ROOT / "tests" / "data" / "reply_set.jsonl"
PARTS = ("mood", "knowledge", "replies")
# Sending the customer elsewhere: the persona forbids it, a reply that does it fails them.
_ELSEWHERE = re.compile(
    r"contact (?:our |the )?(?:customer )?(?:service|support)|reach out to (?:our |the )?"
    r"(?:customer )?(?:service|support)|联系(?:我们的)?客服|联系商家|联系厂家",
    re.IGNORECASE,
)


def _engine(dtype: str, seed: int | None = None, facts: Path | None = None) -> MoodEngine:
    """The default engine with these weights; with facts, greedy (as eval-knowledge runs)."""
    from engine.config import EngineConfig, KnowledgeConfig
    from engine.mood_engine import MoodEngine

    config = EngineConfig(dtype=dtype)  # type: ignore[arg-type]
    sampling = dataclasses.replace(config.sampling, seed=seed)
    if facts is not None:
        sampling = dataclasses.replace(sampling, temperature=0.0)
    config = dataclasses.replace(
        config,
        sampling=sampling,
        knowledge=KnowledgeConfig(facts) if facts is not None else None,
    )
    return MoodEngine.load(config)


def mood_part(dtype: str) -> dict[str, object]:
    from bot.cli.text_files import read_rows
    from engine.evaluation import evaluate

    engine = _engine(dtype)
    figures: dict[str, object] = {}
    try:
        for name in ("zh", "en"):
            rows = read_rows(SHARED / f"{name}_sentiment_dev.jsonl", "text")
            texts = [row.text for row in rows]
            started = time.perf_counter()
            moods = []
            batch = engine.config.max_batch
            for start in range(0, len(texts), batch):
                moods.extend(engine.classify_many_sync(texts[start : start + batch]))
            seconds = time.perf_counter() - started
            report = evaluate([str(row.fields["label"]) for row in rows], [m.label for m in moods])
            figures[name] = {
                "count": report.count,
                "accuracy": round(report.accuracy, 4),
                "macro_f1": round(report.macro_f1, 4),
                "negative_recall": report.negative_recall and round(report.negative_recall, 4),
                "texts_per_s": round(len(texts) / seconds, 2),
            }
    finally:
        engine.close()
    return figures


def knowledge_part(dtype: str) -> dict[str, object]:
    from bot.cli.knowledge_eval import answer_all
    from engine.knowledge.evaluation import read_questions, totals

    facts = SHARED / "knowledge" / "acme_facts.md"
    engine = _engine(dtype, facts=facts)
    try:
        questions = read_questions(SHARED / "knowledge" / "acme_questions.jsonl")
        outcomes = asyncio.run(
            answer_all(engine, questions, facts.read_text(encoding="utf-8"), lambda _: None)
        )
    finally:
        engine.close()
    return dict(totals(outcomes))


@dataclasses.dataclass(frozen=True)
class ReplyCase:
    language: str
    history: list[dict[str, str]]
    text: str
    mood: str
    detail_any: list[str]


def read_reply_set(path: Path = REPLY_SET) -> list[ReplyCase]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            cases.append(
                ReplyCase(
                    record["lang"],
                    record["history"],
                    record["text"],
                    record["mood"],
                    record["detail_any"],
                )
            )
    return cases


def score_reply(case: ReplyCase, reply: str) -> dict[str, bool]:
    from engine.knowledge.numbers import invented_numbers
    from engine.language import detect_language
    from engine.reply_text import FALLBACKS

    lowered = reply.casefold()
    sentences = re.findall(r"[^。！？.!?]+[。！？.!?]*", reply.strip())
    conversation = [turn["text"] for turn in case.history] + [case.text]
    return {
        "language": detect_language(reply) == case.language,
        "not_fallback": all(reply not in by_mood.values() for by_mood in FALLBACKS.values()),
        "short": len(sentences) <= 3,
        "uses_detail": any(detail.casefold() in lowered for detail in case.detail_any),
        "no_invented_number": not invented_numbers(reply, conversation),
        "stays_with_the_customer": not _ELSEWHERE.search(reply),
    }


def replies_part(dtype: str, seeds: Sequence[int]) -> dict[str, object]:
    from engine.types import Mood, Turn

    cases = read_reply_set()
    per_seed: list[dict[str, float]] = []
    examples: list[dict[str, str]] = []
    for seed in seeds:
        engine = _engine(dtype, seed=seed)

        async def run(engine: MoodEngine) -> list[str]:
            replies = []
            for case in cases:
                history = [
                    Turn("user" if turn["role"] == "user" else "assistant", turn["text"])
                    for turn in case.history
                ]
                stream = engine.reply(history, case.text, Mood(case.mood, 0.9))  # type: ignore[arg-type]
                replies.append(await stream.text())
            return replies

        try:
            replies = asyncio.run(run(engine))
        finally:
            engine.close()
        scores = [score_reply(case, reply) for case, reply in zip(cases, replies, strict=True)]
        per_seed.append(
            {check: sum(score[check] for score in scores) / len(scores) for check in scores[0]}
        )
        if seed == seeds[0]:
            examples = [
                {"message": case.text, "reply": reply}
                for case, reply in list(zip(cases, replies, strict=True))[:4]
            ]
    checks = per_seed[0].keys()
    return {
        "cases": len(cases),
        "seeds": list(seeds),
        "mean": {check: round(statistics.mean(s[check] for s in per_seed), 4) for check in checks},
        "spread_between_seeds": {
            check: round(max(s[check] for s in per_seed) - min(s[check] for s in per_seed), 4)
            for check in checks
        },
        "examples": examples,
    }


def run_dtype(dtype: str, parts: Sequence[str], seeds: Sequence[int]) -> dict[str, object]:
    from engine.cpu import cpu_paths

    result: dict[str, object] = {"cpu": cpu_paths().describe()}
    for part in parts:
        started = time.perf_counter()
        if part == "mood":
            result[part] = mood_part(dtype)
        elif part == "knowledge":
            result[part] = knowledge_part(dtype)
        else:
            result[part] = replies_part(dtype, seeds)
        result[f"{part}_seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtypes", default="bf16,int4")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--seeds", type=int, default=3, help="reply runs, seeds 1..N")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    parts = [part for part in args.parts.split(",") if part]
    seeds = list(range(1, args.seeds + 1))
    if args.one:
        print(json.dumps(run_dtype(args.one, parts, seeds)))
        return
    results = {}
    for dtype in args.dtypes.split(","):
        command = [sys.executable, "-m", "bench.quality", "--one", dtype, "--parts", args.parts]
        command += ["--seeds", str(args.seeds)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"{dtype} failed:\n{done.stderr[-4000:]}")
        results[dtype] = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
