"""The in-process model behind the inference worker: every role, one set of weights.

Runs on the worker thread only, and only model work: moods, label questions (the facts' pick),
generations. What to make of their results is decided by the callers (engine.mood_engine and
engine.knowledge.answering).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from engine.config import EngineConfig, SamplingConfig
from engine.decoder import Decoder
from engine.decoding import DecodingLoop, GenerationJob
from engine.knowledge.evidence import LabelPrompt, PickQuestion, best_candidate
from engine.label_questions import Branch
from engine.label_reader import LabelReader, Prefix
from engine.loading import LoadedModel
from engine.mood import MoodClassifier
from engine.prefix_cache import PrefixCache
from engine.prompts import CLASSIFICATION_PROMPTS
from engine.reply_prompt import ReplyPrompt, chat_token_ids
from engine.sampling import RowSampler, banned_token_ids, stop_token_ids
from engine.types import Mood
from engine.worker import CompleteRequest, GenerateRequest

log = logging.getLogger(__name__)

GREEDY = SamplingConfig(temperature=0.0, repetition_penalty=1.0)


@dataclass(frozen=True)
class PickReading:
    """A pick question over some messages' token ids."""

    question: PickQuestion
    items: tuple[tuple[int, ...], ...]


def build_decoder(loaded: LoadedModel) -> Decoder:
    return Decoder(loaded.config, loaded.weights)


class LocalBackend:
    def __init__(self, loaded: LoadedModel, config: EngineConfig) -> None:
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.source = loaded.source
        self.decoder = build_decoder(loaded)
        thresholds = {lang: config.neutral_threshold_for(lang) for lang in CLASSIFICATION_PROMPTS}
        self.classifier = MoodClassifier(
            self.decoder,
            loaded.tokenizer,
            thresholds,
            intents=config.triage.intents if config.triage is not None else None,
        )
        self.labels = LabelReader(self.decoder)
        self.prefixes = PrefixCache(config.cache_mb * 2**20)
        self._banned = banned_token_ids(loaded.tokenizer)
        self._stop_ids = stop_token_ids(loaded.generation, loaded.tokenizer)

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        return self.classifier.classify_many(texts)

    def read_labels(self, reading: object) -> list[list[torch.Tensor]]:
        """Per message: the choice's digit probabilities, the asks question's yes/no ones, and
        the focused check's of the best candidate (empty tensors without candidates)."""
        assert isinstance(reading, PickReading)
        question = reading.question
        asks = question.asks
        if question.choice is None:
            rows = self._read(asks, reading.items, None)
            return [[torch.empty(0), asked, torch.empty(0)] for (asked,) in rows]
        choices = [row for (row,) in self._read(question.choice, reading.items, None)]
        rows = self._read(
            asks,
            reading.items,
            lambda item: (asks.branch, question.verify[best_candidate(choices[item].tolist())]),
        )
        return [[choice, *row] for choice, row in zip(choices, rows, strict=True)]

    def _read(
        self,
        prompt: LabelPrompt,
        items: Sequence[Sequence[int]],
        branches: Callable[[int], tuple[Branch, ...]] | None,
    ) -> list[list[torch.Tensor]]:
        """`prompt` read after each item, with its own branch or (`branches`) those of each."""
        cached = self.prefixes.exact(prompt.key) if prompt.key is not None else None
        if cached is None:
            prefix = self.labels.prefix(prompt.prefix_ids)
            if prompt.key is not None:
                self.prefixes.put(prompt.key, prompt.prefix_ids, prefix.kv, pinned=True)
        else:
            prefix = Prefix(prompt.prefix_ids, cached)
        if branches is None:
            return self.labels.read(prefix, items, (prompt.branch,))
        return [
            self.labels.read(prefix, [item], branches(number))[0]
            for number, item in enumerate(items)
        ]

    def decoding_loop(self, max_batch: int) -> DecodingLoop:
        return DecodingLoop(self.decoder, self.tokenizer, self.prefixes, self._stop_ids, max_batch)

    def generation_job(self, request: GenerateRequest) -> GenerationJob:
        return GenerationJob(
            prompt_ids=request.prompt_ids,
            sampler=RowSampler(request.sampling, self._banned, self._stop_ids),
            max_new_tokens=request.sampling.max_new_tokens,
            on_delta=request.on_delta,
            is_cancelled=request.cancelled.is_set,
            on_done=lambda result: request.future.set_result(result),
            on_error=request.future.set_exception,
            conversation=request.conversation,
            shared_prefix=request.shared_prefix,
        )

    def complete_job(self, request: CompleteRequest) -> GenerationJob:
        return GenerationJob(
            prompt_ids=chat_token_ids(self.tokenizer, request.messages),
            sampler=RowSampler(GREEDY, [], self._stop_ids),
            max_new_tokens=request.max_new_tokens,
            on_delta=lambda _: None,
            is_cancelled=request.cancelled.is_set,
            on_done=lambda result: request.future.set_result(result.text.strip()),
            on_error=request.future.set_exception,
        )


def shared_prefix_key(prompt: ReplyPrompt) -> tuple[str, int] | None:
    """The system turn, cached once (pinned): the same for every reply of its language."""
    if not prompt.shared_length:
        return None
    digest = hashlib.sha256(repr(prompt.ids[: prompt.shared_length]).encode()).hexdigest()
    return f"system:{prompt.language}:{digest[:16]}", prompt.shared_length
