"""The in-process model behind the inference worker: both roles, one set of weights."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from engine.config import EngineConfig
from engine.generation import (
    GenerationJob,
    GenerationResult,
    banned_token_ids,
    generate_batch,
    stop_token_ids,
)
from engine.knowledge.grounding import (
    REASON_LIVE_DATA,
    REASON_NUMBER,
    REASON_SILENT,
    REASON_UNUSABLE,
    DraftFilter,
    KnowledgeBase,
    handoff_reply,
)
from engine.knowledge.prompts import SILENT_MARK
from engine.language import Language
from engine.loading import LoadedModel
from engine.mood import MoodClassifier
from engine.prompts import CLASSIFICATION_PROMPTS
from engine.reply_prompt import build_reply_prompt, reply_language
from engine.reply_text import FALLBACKS, finish_reply
from engine.types import GroundedReply, HandOff, Mood, Turn
from engine.worker import CompleteRequest, ReplyRequest

log = logging.getLogger(__name__)


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
    def __init__(
        self, loaded: LoadedModel, config: EngineConfig, knowledge: KnowledgeBase | None = None
    ) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self._sampling = config.sampling
        thresholds = {lang: config.neutral_threshold_for(lang) for lang in CLASSIFICATION_PROMPTS}
        self.classifier = MoodClassifier(loaded.model, loaded.tokenizer, thresholds)
        self._banned = banned_token_ids(loaded.tokenizer)
        self._stop_ids = stop_token_ids(loaded.model, loaded.tokenizer)
        self._silent_token = loaded.tokenizer.encode(SILENT_MARK, add_special_tokens=False)[0]
        self.knowledge = knowledge
        self.last_stats = GenerationStats()

    @staticmethod
    def token_counter(loaded: LoadedModel) -> Callable[[str], int]:
        return lambda text: len(loaded.tokenizer.encode(text, add_special_tokens=False))

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        return self.classifier.classify_many(texts)

    def generate(
        self, requests: Sequence[ReplyRequest], between_steps: Callable[[], None]
    ) -> list[GroundedReply]:
        started = time.perf_counter()
        stats = GenerationStats()
        payloads = [_payload(request) for request in requests]
        knowledge = self.knowledge
        replies: dict[int, GroundedReply] = {}
        if knowledge is not None:
            for number, payload in enumerate(payloads):
                if knowledge.needs_live_data(payload.text):
                    replies[number] = self._handed_off(payload, REASON_LIVE_DATA)
        first = [number for number in range(len(requests)) if number not in replies]
        retry: list[int] = []
        for number, (result, text) in zip(
            first, self._write(requests, first, between_steps, stats, stricter=False), strict=True
        ):
            payload = payloads[number]
            if knowledge is None or result.cancelled:
                replies[number] = GroundedReply(text)
            elif knowledge.is_silent(result.text, _logged(result.watched_logprob, result.text)):
                replies[number] = self._handed_off(payload, REASON_SILENT)
            elif knowledge.needs_another_try(
                text, reply_language(payload.history, payload.text), payload.mood.label
            ) or knowledge.invented(text, payload.history, payload.text):
                retry.append(number)
            else:
                replies[number] = GroundedReply(text)
        for number, (result, text) in zip(
            retry, self._write(requests, retry, between_steps, stats, stricter=True), strict=True
        ):
            payload = payloads[number]
            assert knowledge is not None
            if result.cancelled:
                replies[number] = GroundedReply(text)
            elif knowledge.is_silent(result.text, None):
                replies[number] = self._handed_off(payload, REASON_SILENT)
            elif invented := knowledge.invented(text, payload.history, payload.text):
                reason = f"{REASON_NUMBER} ({', '.join(sorted(invented))})"
                replies[number] = self._handed_off(payload, reason)
            elif (
                text == FALLBACKS[reply_language(payload.history, payload.text)][payload.mood.label]
            ):
                replies[number] = self._handed_off(payload, REASON_UNUSABLE)
            else:
                replies[number] = GroundedReply(text)
        stats.total_seconds = time.perf_counter() - started
        self.last_stats = stats
        return [replies[number] for number in range(len(requests))]

    def _write(
        self,
        requests: Sequence[ReplyRequest],
        numbers: Sequence[int],
        between_steps: Callable[[], None],
        stats: GenerationStats,
        *,
        stricter: bool,
    ) -> list[tuple[GenerationResult, str]]:
        """Generate the replies to `requests[numbers]` side by side: each raw result with the
        text a customer would get. A first attempt streams its draft; a retry does not (the
        draft keeps the first attempt until the final message replaces it)."""
        if not numbers:
            return []
        jobs, languages = [], []
        for number in numbers:
            request = requests[number]
            payload = _payload(request)
            prompt_ids, language = build_reply_prompt(
                self.tokenizer,
                payload.history,
                payload.text,
                payload.mood,
                self._sampling.history_tokens,
                self._system_prompt(payload, stricter),
            )
            stats.prompt_tokens += len(prompt_ids)
            on_delta = self._timed(request, stats) if not stricter else _ignore
            if self.knowledge is not None and not stricter:
                on_delta = DraftFilter(on_delta)
            jobs.append(GenerationJob(prompt_ids, on_delta, request.cancelled.is_set))
            languages.append(language)
        results = generate_batch(
            self.model,
            self.tokenizer,
            jobs,
            self._sampling,
            self._banned,
            self._stop_ids,
            between_steps,
            watch_token=self._silent_token if self.knowledge is not None else None,
        )
        stats.new_tokens += sum(result.tokens for result in results)
        return [
            (
                result,
                result.text
                if result.cancelled
                else finish_reply(
                    result.text, language, _payload(requests[n]).mood.label, result.hit_limit
                ),
            )
            for result, language, n in zip(results, languages, numbers, strict=True)
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

    def _system_prompt(
        self, payload: ReplyPayload, stricter: bool
    ) -> Callable[[Language], str] | None:
        knowledge = self.knowledge
        if knowledge is None:
            return None
        return lambda language: knowledge.system_prompt(
            language, payload.mood.label, payload.text, stricter=stricter
        )

    @staticmethod
    def _handed_off(payload: ReplyPayload, reason: str) -> GroundedReply:
        language = reply_language(payload.history, payload.text)
        return GroundedReply(
            handoff_reply(language, payload.mood.label), HandOff(reason, payload.text)
        )

    @staticmethod
    def _timed(request: ReplyRequest, stats: GenerationStats):  # type: ignore[no-untyped-def]
        started = time.perf_counter()

        def on_delta(delta: str) -> None:
            if not stats.first_token_seconds:
                stats.first_token_seconds = time.perf_counter() - started
            request.on_delta(delta)

        return on_delta


def _payload(request: ReplyRequest) -> ReplyPayload:
    payload = request.payload
    assert isinstance(payload, ReplyPayload)
    return payload


def _logged(silent_logprob: float | None, text: str) -> float | None:
    """The hand-off gate's reading, logged: the figure `handoff_threshold` is tuned on."""
    log.debug("log P(reply opens with the silent mark) = %s for %r", silent_logprob, text[:60])
    return silent_logprob


def _ignore(_: str) -> None:
    """A retry's text is not streamed."""
