"""The in-process model behind the inference worker: both roles, one set of weights."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from engine.config import EngineConfig
from engine.generation import GenerationJob, banned_token_ids, generate_batch, stop_token_ids
from engine.loading import LoadedModel
from engine.mood import MoodClassifier
from engine.prompts import CLASSIFICATION_PROMPTS
from engine.reply_prompt import build_reply_prompt
from engine.reply_text import finish_reply
from engine.types import Mood, Turn
from engine.worker import CompleteRequest, ReplyRequest


@dataclass(frozen=True)
class ReplyPayload:
    history: tuple[Turn, ...]
    text: str
    mood: Mood


@dataclass
class GenerationStats:
    """Counters for the last batch, read by benchmarks."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    first_token_seconds: float = 0.0
    total_seconds: float = 0.0


class LocalBackend:
    def __init__(self, loaded: LoadedModel, config: EngineConfig) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self._sampling = config.sampling
        thresholds = {lang: config.neutral_threshold_for(lang) for lang in CLASSIFICATION_PROMPTS}
        self.classifier = MoodClassifier(loaded.model, loaded.tokenizer, thresholds)
        self._banned = banned_token_ids(loaded.tokenizer)
        self._stop_ids = stop_token_ids(loaded.model, loaded.tokenizer)
        self.last_stats = GenerationStats()

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        return self.classifier.classify_many(texts)

    def generate(
        self, requests: Sequence[ReplyRequest], between_steps: Callable[[], None]
    ) -> list[str]:
        started = time.perf_counter()
        stats = GenerationStats()
        jobs, contexts = [], []
        for request in requests:
            payload = request.payload
            assert isinstance(payload, ReplyPayload)
            prompt_ids, language = build_reply_prompt(
                self.tokenizer,
                payload.history,
                payload.text,
                payload.mood,
                self._sampling.history_tokens,
            )
            stats.prompt_tokens += len(prompt_ids)
            jobs.append(
                GenerationJob(
                    prompt_ids, self._timed(request, stats, started), request.cancelled.is_set
                )
            )
            contexts.append((language, payload.mood.label))
        results = generate_batch(
            self.model,
            self.tokenizer,
            jobs,
            self._sampling,
            self._banned,
            self._stop_ids,
            between_steps,
        )
        stats.new_tokens = sum(result.tokens for result in results)
        stats.total_seconds = time.perf_counter() - started
        self.last_stats = stats
        return [
            result.text
            if result.cancelled
            else finish_reply(result.text, language, mood, result.hit_limit)
            for result, (language, mood) in zip(results, contexts, strict=True)
        ]

    def complete(self, request: CompleteRequest, between_steps: Callable[[], None]) -> str | None:
        prompt = self.tokenizer.apply_chat_template(
            request.messages, tokenize=True, add_generation_prompt=True
        )
        prompt_ids = prompt if isinstance(prompt, list) else list(prompt["input_ids"])
        greedy = replace(
            self._sampling,
            max_new_tokens=request.max_new_tokens,
            temperature=0.0,
            repetition_penalty=1.0,
            seed=None,
        )
        job = GenerationJob(prompt_ids, lambda _delta: None, request.preempted.is_set)
        [result] = generate_batch(
            self.model, self.tokenizer, [job], greedy, [], self._stop_ids, between_steps
        )
        return None if result.cancelled else result.text.strip()

    @staticmethod
    def _timed(request: ReplyRequest, stats: GenerationStats, started: float):  # type: ignore[no-untyped-def]
        def on_delta(delta: str) -> None:
            if not stats.first_token_seconds:
                stats.first_token_seconds = time.perf_counter() - started
            request.on_delta(delta)

        return on_delta
