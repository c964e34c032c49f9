"""The in-process model behind the inference worker: every role, one set of weights.

Runs on the worker thread only, and only model work: moods, label questions (the facts' pick),
generations. What to make of their results is decided by the callers (engine.mood_engine and
engine.knowledge.answering).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.config import EngineConfig, SamplingConfig
from engine.decoder import Decoder
from engine.decoding import DecodingLoop, GenerationJob
from engine.knowledge.evidence import PickQuestion
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
        self.classifier = MoodClassifier(self.decoder, loaded.tokenizer, thresholds)
        self.labels = LabelReader(self.decoder)
        self.prefixes = PrefixCache(config.cache_mb * 2**20)
        self._banned = banned_token_ids(loaded.tokenizer)
        self._stop_ids = stop_token_ids(loaded.generation, loaded.tokenizer)
        # Keys of the pinned prefixes made of the facts, dropped when the facts change.
        self._facts_keys: set[str] = set()
        self._keys_lock = threading.Lock()

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        return self.classifier.classify_many(texts)

    def read_labels(self, reading: object) -> list[list[torch.Tensor]]:
        assert isinstance(reading, PickReading)
        question = reading.question
        cached = self.prefixes.exact(question.key)
        if cached is None:
            prefix = self.labels.prefix(question.prefix_ids)
            self.prefixes.put(question.key, question.prefix_ids, prefix.kv, pinned=True)
            with self._keys_lock:
                self._facts_keys.add(question.key)
        else:
            prefix = Prefix(question.prefix_ids, cached)
        return self.labels.read(prefix, reading.items, question.branches)

    def take_facts_keys(self) -> list[str]:
        """The cache keys of prompts made of the facts in use (to drop on a change)."""
        with self._keys_lock:
            keys = list(self._facts_keys)
            self._facts_keys.clear()
        return keys

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
