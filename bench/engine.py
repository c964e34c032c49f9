"""Engine benchmark: the reply path moodbot replaced (bf16 `model.generate()`, static batches)
against the engine's own decoding loop with bf16 and with int4 weights, in one run.

Run: .venv/bin/python -m bench.engine [--real] [--tokens N] [--runs N]
Without --real it runs the tiny random model (a smoke test: the figures mean nothing). Each path
runs in a process of its own, one after the other, so each peak RSS is its own; the ratios
between the paths hold on any machine even when the absolute figures do not. Prints one JSON
object: per path (a) mood p50/p95, (b) one customer's decode tok/s and 60-token-ish prefill
(time to first token), (c) time to first token on the 10th turn of a conversation, (d) for 1, 4
and 8 customers arriving `--stagger` seconds apart: aggregate tok/s and p50/p95 time to a
complete answer, (e) load time and peak RSS; then the engine's ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from transformers.generation.streamers import BaseStreamer

from bench.baseline_generate import generate_batch
from bench.tiny_model import build_tiny_model, real_model_dir, tiny_engine_config
from engine.config import EngineConfig, SamplingConfig
from engine.cpu import cpu_paths
from engine.mood_engine import MoodEngine
from engine.packaged_models import DEFAULT_MODEL
from engine.reply_prompt import build_reply_prompt
from engine.sampling import banned_token_ids, stop_token_ids
from engine.types import Mood, Turn

PATHS = ("generate_bf16", "engine_bf16", "engine_int4")
CUSTOMER_COUNTS = (1, 4, 8)
NEGATIVE = Mood("negative", 0.9, {"positive": 0.1, "negative": 0.9})
# Eight customers, both languages; each about 25-35 tokens.
MESSAGES = [
    "I ordered the blue kettle two weeks ago and it still has not arrived, can you check please?",
    "我上周买的耳机今天终于到了，音质特别好，包装也很用心，谢谢你们！",
    "Could you tell me whether the winter jacket in size M will be back in stock next week?",
    "订单显示已经签收了，可是我根本没有收到包裹，请帮我查一下到底怎么回事。",
    "Thank you so much, the replacement came this morning and it works perfectly, great service!",
    "请问这款电饭煲有没有其他颜色可以选择？我想买一个白色的送给妈妈。",
    "The blender I bought makes a horrible grinding noise after only three days of use.",
    "我想把收货地址改成公司地址，订单还没发货，可以帮我改一下吗？",
]
# A conversation of nine earlier exchanges, for the tenth turn's first token.
CONVERSATION = [
    "Hi, I bought a coffee machine from you last month.",
    "It was working fine until yesterday.",
    "Now it leaks water from the bottom every time I use it.",
    "I already tried cleaning it as the manual says.",
    "The water tank looks fine, no cracks that I can see.",
    "It is the black model with the milk frother.",
    "I use it twice a day, nothing unusual.",
    "I still have the receipt and the box.",
    "Would you be able to send a replacement part?",
    "Or should I send the whole machine back to you?",
]
SCRIPTED_REPLY = (
    "I'm sorry to hear about the trouble with your coffee machine. Could you tell me a little "
    "more so we can sort it out together?"
)


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def quantiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
    }


def mood_latency(engine: MoodEngine, runs: int) -> dict[str, float]:
    engine.classify_many_sync([MESSAGES[0]])  # warm-up
    times = []
    for index in range(runs):
        started = time.perf_counter()
        engine.classify_many_sync([MESSAGES[index % len(MESSAGES)]])
        times.append(time.perf_counter() - started)
    return quantiles(times)


class _FirstToken(BaseStreamer):
    """Records when generate() produced its first new token."""

    def __init__(self) -> None:
        self.prompt_seen = False
        self.first: float | None = None

    def put(self, value: torch.Tensor) -> None:
        if self.prompt_seen and self.first is None:
            self.first = time.perf_counter()
        self.prompt_seen = True

    def end(self) -> None:
        """Nothing to flush."""


class GeneratePath:
    """Today's path as it was: a prompt per reply, generate() over the batch waiting together;
    replies arriving during a batch wait for all of it."""

    def __init__(self, engine: MoodEngine) -> None:
        self.engine = engine
        model = engine.backend.loaded.model
        assert model is not None, "the generate() baseline runs on bf16 weights"
        self.model = model
        self.tokenizer = engine.backend.tokenizer
        self.sampling = engine.config.sampling
        self.banned = banned_token_ids(self.tokenizer)
        self.stop_ids = stop_token_ids(engine.backend.loaded.generation, self.tokenizer)

    def prompt(self, history: Sequence[Turn], text: str) -> list[int]:
        return build_reply_prompt(
            self.tokenizer, history, text, NEGATIVE, self.sampling.history_tokens
        ).ids

    def one(self, history: Sequence[Turn], text: str) -> tuple[float, float, int]:
        """(time to first token, total time, tokens) of one reply alone."""
        prompt = self.prompt(history, text)
        streamer = _FirstToken()
        started = time.perf_counter()
        tokens = self._generate([prompt], streamer)[0]
        finished = time.perf_counter()
        return (streamer.first or finished) - started, finished - started, len(tokens)

    def _generate(
        self, prompts: list[list[int]], streamer: BaseStreamer | None = None
    ) -> list[list[int]]:
        if streamer is None:
            return generate_batch(
                self.model, self.tokenizer, prompts, self.sampling, self.banned, self.stop_ids
            )
        original = self.model.generate

        def with_streamer(*args: object, **kwargs: object) -> object:
            return original(*args, streamer=streamer, **kwargs)  # type: ignore[arg-type]

        self.model.generate = with_streamer  # type: ignore[method-assign]
        try:
            return generate_batch(
                self.model, self.tokenizer, prompts, self.sampling, self.banned, self.stop_ids
            )
        finally:
            self.model.generate = original  # type: ignore[method-assign]

    def customers(self, count: int, stagger: float) -> tuple[list[float], int, float]:
        """Static batches as the old worker ran them: (answer times, tokens, wall time)."""
        started = time.perf_counter()
        arrivals = [index * stagger for index in range(count)]
        prompts = [self.prompt([], MESSAGES[index % len(MESSAGES)]) for index in range(count)]
        done: list[float] = []
        tokens = 0
        waiting = list(range(count))
        while waiting:
            now = time.perf_counter() - started
            ready = [index for index in waiting if arrivals[index] <= now]
            if not ready:
                time.sleep(arrivals[waiting[0]] - now)
                continue
            batch = ready[: self.engine.config.max_batch]
            outputs = self._generate([prompts[index] for index in batch])
            finished = time.perf_counter() - started
            for index, output in zip(batch, outputs, strict=True):
                done.append(finished - arrivals[index])
                tokens += len(output)
                waiting.remove(index)
        return done, tokens, time.perf_counter() - started


class EnginePath:
    def __init__(self, engine: MoodEngine) -> None:
        self.engine = engine
        self.tokenizer = engine.backend.tokenizer

    async def one(
        self, history: Sequence[Turn], text: str, conversation: str | None = None
    ) -> tuple[float, float, int, str]:
        """(time to first token, total time, tokens, finished text) of one reply."""
        started = time.perf_counter()
        stream = self.engine.reply(history, text, NEGATIVE, conversation=conversation)
        first = None
        raw = ""
        async for delta in stream:
            first = first or time.perf_counter()
            raw += delta
        text_out = await stream.text()
        finished = time.perf_counter()
        tokens = len(self.tokenizer.encode(raw, add_special_tokens=False))
        return (first or finished) - started, finished - started, tokens, text_out

    async def customers(self, count: int, stagger: float) -> tuple[list[float], int, float]:
        started = time.perf_counter()

        async def customer(index: int) -> tuple[float, int]:
            await asyncio.sleep(index * stagger)
            _, total, tokens, _ = await self.one([], MESSAGES[index % len(MESSAGES)])
            return total, tokens

        results = await asyncio.gather(*(customer(index) for index in range(count)))
        return (
            [total for total, _ in results],
            sum(tokens for _, tokens in results),
            time.perf_counter() - started,
        )


def _rate(first: float, total: float, tokens: int) -> float:
    return round((tokens - 1) / (total - first), 2) if tokens > 1 and total > first else 0.0


def _customers_summary(times: list[float], tokens: int, wall: float) -> dict[str, object]:
    return {
        "aggregate_tokens_per_s": round(tokens / wall, 2),
        "answer": quantiles(times),
        "tokens": tokens,
    }


def run_generate(engine: MoodEngine, args: argparse.Namespace) -> dict[str, object]:
    path = GeneratePath(engine)
    path.one([], MESSAGES[0])  # warm-up
    first, total, tokens = path.one([], MESSAGES[2])
    history: list[Turn] = []
    for text in CONVERSATION[:-1]:
        history += [Turn("user", text, "negative"), Turn("assistant", SCRIPTED_REPLY)]
    tenth_first, _, _ = path.one(history, CONVERSATION[-1])
    return {
        "decode_tokens_per_s": _rate(first, total, tokens),
        "first_token_s": round(first, 3),
        "tenth_turn_first_token_s": round(tenth_first, 3),
        "customers": {
            str(count): _customers_summary(*path.customers(count, args.stagger))
            for count in CUSTOMER_COUNTS
        },
    }


async def run_engine(engine: MoodEngine, args: argparse.Namespace) -> dict[str, object]:
    path = EnginePath(engine)
    await path.one([], MESSAGES[0])  # warm-up, and each language's system prompt cached
    await path.one([], MESSAGES[1])
    first, total, tokens, _ = await path.one([], MESSAGES[2])
    history: list[Turn] = []
    for text in CONVERSATION[:-1]:
        *_, reply = await path.one(history, text, conversation="bench")
        history += [Turn("user", text, "negative"), Turn("assistant", reply)]
    tenth_first, *_ = await path.one(history, CONVERSATION[-1], conversation="bench")
    # Any cached prefix serves any prompt: the conversation must go for a cold measurement.
    engine.forget_conversation("bench")
    cold_first, *_ = await path.one(history, CONVERSATION[-1])
    customers = {}
    for count in CUSTOMER_COUNTS:
        customers[str(count)] = _customers_summary(*await path.customers(count, args.stagger))
    return {
        "decode_tokens_per_s": _rate(first, total, tokens),
        "first_token_s": round(first, 3),
        "tenth_turn_first_token_s": round(tenth_first, 3),
        "tenth_turn_first_token_without_conversation_cache_s": round(cold_first, 3),
        "prefix_cache_mib": round(engine.backend.prefixes.used_bytes / 2**20, 1),
        "customers": customers,
        # Where the decoding loop's time went over the whole run.
        "phases": engine.stats()["replies"],
        "weights": engine.backend.decoder.weights.description,
        "weights_mib": round(engine.backend.decoder.weights.nbytes / 2**20, 1),
    }


def run_path(args: argparse.Namespace) -> dict[str, object]:
    sampling = SamplingConfig(max_new_tokens=args.tokens, temperature=0.0)
    dtype = "int4" if args.path == "engine_int4" else "bf16"
    if args.real:
        config = EngineConfig(model=DEFAULT_MODEL, dtype=dtype, sampling=sampling)
    else:
        config = replace(tiny_engine_config(Path(args.model)), dtype=dtype, sampling=sampling)
    started = time.perf_counter()
    engine = MoodEngine.load(config)
    load_seconds = time.perf_counter() - started
    try:
        result: dict[str, object] = {"load_s": round(load_seconds, 2)}
        result["mood"] = mood_latency(engine, args.runs)
        if args.path == "generate_bf16":
            result.update(run_generate(engine, args))
        else:
            result.update(asyncio.run(run_engine(engine, args)))
    finally:
        engine.close()
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def _child(path: str, model: str, args: argparse.Namespace) -> dict[str, object]:
    command = [sys.executable, "-m", "bench.engine", "--path", path, "--model", model]
    command += ["--tokens", str(args.tokens), "--runs", str(args.runs)]
    command += ["--stagger", str(args.stagger)] + (["--real"] if args.real else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{path} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ratio(ours: object, theirs: object, invert: bool = False) -> float | None:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float):
        return None
    if (theirs if not invert else ours) == 0:
        return None
    return round(theirs / ours if invert else ours / theirs, 2)


def comparison(results: dict[str, dict[str, object]]) -> dict[str, object]:
    base = results["generate_bf16"]
    table: dict[str, object] = {}
    for path in PATHS[1:]:
        ours = results[path]
        customers = {}
        for count in CUSTOMER_COUNTS:
            mine = ours["customers"][str(count)]  # type: ignore[index]
            theirs = base["customers"][str(count)]  # type: ignore[index]
            customers[str(count)] = {
                "aggregate_speedup": _ratio(
                    mine["aggregate_tokens_per_s"], theirs["aggregate_tokens_per_s"]
                ),
                "answer_p50_speedup": _ratio(
                    mine["answer"]["p50_s"], theirs["answer"]["p50_s"], invert=True
                ),
            }
        table[path] = {
            "decode_speedup": _ratio(ours["decode_tokens_per_s"], base["decode_tokens_per_s"]),
            "tenth_turn_first_token_speedup": _ratio(
                ours["tenth_turn_first_token_s"], base["tenth_turn_first_token_s"], invert=True
            ),
            "customers": customers,
        }
    return table


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--real", action="store_true", help="the packaged model, not the tiny one")
    parser.add_argument("--tokens", type=int, default=60, help="reply length limit")
    parser.add_argument("--runs", type=int, default=20, help="mood measurements")
    parser.add_argument("--stagger", type=float, default=0.5, help="seconds between arrivals")
    parser.add_argument("--path", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.path:
        out(json.dumps(run_path(args)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        model = str(
            real_model_dir() if args.real else build_tiny_model(Path(scratch), real_model_dir())
        )
        load = os.getloadavg()
        results = {path: _child(path, model, args) for path in PATHS}
    report = {
        "model": DEFAULT_MODEL if args.real else "tiny random (smoke test)",
        "cpu": cpu_paths().describe(),
        "load_average_before": [round(value, 2) for value in load],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "reply_token_limit": args.tokens,
        "stagger_s": args.stagger,
        "paths": results,
        "against_generate_bf16": comparison(results),
        "llama_cpp_reference": (
            "installed, but this benchmark does not drive it"
            if _llama_cpp_installed()
            else "llama-cpp-python is not installed: no reference row"
        ),
    }
    out(json.dumps(report, indent=2))


def _llama_cpp_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


if __name__ == "__main__":
    main()
