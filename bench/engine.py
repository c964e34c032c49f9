"""Engine benchmark: our one-pass mood against the seed approach, reply speed, memory.

Run: .venv/bin/python -m bench.engine [--model NAME] [--runs N]
Prints one JSON object. Both mood approaches run in the same process on the same model, so the
ratio holds on any machine even when the absolute figures do not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from collections.abc import Callable

import torch

from engine.config import EngineConfig, SamplingConfig
from engine.mood_engine import MoodEngine
from engine.packaged_models import DEFAULT_MODEL
from engine.types import Mood

# About 30 tokens each, both languages, all moods.
MESSAGES = [
    "I ordered the blue kettle two weeks ago and it still has not arrived, can you check please?",
    "Thank you so much, the replacement came this morning and it works perfectly, great service!",
    "Could you tell me whether the winter jacket in size M will be back in stock next week?",
    "我上周买的耳机今天终于到了，音质特别好，包装也很用心，谢谢你们！",
    "订单显示已经签收了，可是我根本没有收到包裹，请帮我查一下到底怎么回事。",
    "请问这款电饭煲有没有其他颜色可以选择？我想买一个白色的送给妈妈。",
]

SEED_PROMPT = (
    "Classify the sentiment of the following customer message as positive, negative or "
    "neutral. Answer with one word.\n\nMessage: {text}\nSentiment:"
)


def seed_classify(engine: MoodEngine, text: str) -> str:
    """The approach moodbot replaced: a full prompt, generate a few tokens, match strings."""
    model, tokenizer = engine.backend.model, engine.backend.tokenizer
    messages = [{"role": "user", "content": SEED_PROMPT.format(text=text)}]
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        output = model.generate(
            **ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    answer = tokenizer.decode(
        output[0, ids["input_ids"].shape[1] :], skip_special_tokens=True
    ).lower()
    for label in ("positive", "negative", "neutral"):
        if label in answer:
            return label
    return "neutral"


def timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_s": round(statistics.median(ordered), 4),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4),
        "mean_s": round(statistics.fmean(ordered), 4),
    }


async def reply_speed(engine: MoodEngine, runs: int) -> dict[str, float]:
    firsts, rates = [], []
    mood = Mood("negative", 0.9, {"positive": 0.1, "negative": 0.9})
    for index in range(runs + 1):
        text = MESSAGES[index % len(MESSAGES)]
        started = time.perf_counter()
        stream = engine.reply([], text, mood)
        first = None
        async for _ in stream:
            if first is None:
                first = time.perf_counter() - started
        await stream.text()
        stats = engine.backend.last_stats
        if index == 0:
            continue  # warm-up
        firsts.append(first or 0.0)
        decode_seconds = stats.total_seconds - stats.first_token_seconds
        if stats.new_tokens > 1 and decode_seconds > 0:
            rates.append((stats.new_tokens - 1) / decode_seconds)
    return {
        "first_token_p50_s": round(statistics.median(firsts), 3),
        "first_token_max_s": round(max(firsts), 3),
        "decode_tokens_per_s": round(statistics.median(rates), 2) if rates else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--reply-runs", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    config = EngineConfig(model=args.model, sampling=SamplingConfig(max_new_tokens=80, seed=0))
    engine = MoodEngine.load(config)
    load_seconds = time.perf_counter() - started
    try:
        texts = iter(MESSAGES * (args.runs + 1))
        ours = timed(lambda: engine.classify_many_sync([next(texts)]), args.runs)
        texts = iter(MESSAGES * (args.runs + 1))
        seed = timed(lambda: seed_classify(engine, next(texts)), args.runs)
        batch = timed(lambda: engine.classify_many_sync(MESSAGES), max(2, args.runs // 4))
        replies = asyncio.run(reply_speed(engine, args.reply_runs))
    finally:
        engine.close()
    prompt_tokens = [len(engine.backend.tokenizer.encode(text)) for text in MESSAGES]
    result = {
        "model": args.model,
        "threads": torch.get_num_threads(),
        "load_s": round(load_seconds, 2),
        "message_tokens_mean": round(statistics.fmean(prompt_tokens), 1),
        "mood_ours": summary(ours),
        "mood_seed_generate": summary(seed),
        "mood_speedup_p50": round(statistics.median(seed) / statistics.median(ours), 2),
        "mood_batch_of_6_per_text_s": round(statistics.median(batch) / len(MESSAGES), 4),
        "reply": replies,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
