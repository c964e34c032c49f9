"""The in-process model behind the inference worker: both roles, one set of weights."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from engine.config import EngineConfig, SamplingConfig
from engine.decoder import Decoder
from engine.decoding import DecodingLoop, GenerationJob, GenerationResult
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
from engine.prefix_cache import PrefixCache
from engine.prompts import CLASSIFICATION_PROMPTS
from engine.reply_prompt import ReplyPrompt, build_reply_prompt, chat_token_ids, reply_language
from engine.reply_text import FALLBACKS, finish_reply
from engine.sampling import RowSampler, banned_token_ids, stop_token_ids
from engine.types import GroundedReply, HandOff, Mood, Turn
from engine.worker import CompleteRequest, ReplyRequest

log = logging.getLogger(__name__)

GREEDY = SamplingConfig(temperature=0.0, repetition_penalty=1.0)


@dataclass(frozen=True)
class ReplyPayload:
    history: tuple[Turn, ...]
    text: str
    mood: Mood
    conversation: str | None = None


def build_decoder(loaded: LoadedModel) -> Decoder:
    return Decoder(loaded.config, loaded.weights)


class LocalBackend:
    def __init__(
        self,
        loaded: LoadedModel,
        config: EngineConfig,
        knowledge: KnowledgeBase | None = None,
    ) -> None:
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.source = loaded.source
        self._sampling = config.sampling
        self.decoder = build_decoder(loaded)
        thresholds = {lang: config.neutral_threshold_for(lang) for lang in CLASSIFICATION_PROMPTS}
        self.classifier = MoodClassifier(self.decoder, loaded.tokenizer, thresholds)
        self.prefixes = PrefixCache(config.cache_mb * 2**20)
        self._banned = banned_token_ids(loaded.tokenizer)
        self._stop_ids = stop_token_ids(loaded.generation, loaded.tokenizer)
        self._silent_token = loaded.tokenizer.encode(SILENT_MARK, add_special_tokens=False)[0]
        self.knowledge = knowledge
        # The pinned system prompts' cache keys, dropped when the facts are reloaded.
        self.system_keys: set[str] = set()
        self._keys_lock = threading.Lock()

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        return self.classifier.classify_many(texts)

    def take_system_keys(self) -> list[str]:
        with self._keys_lock:
            keys = list(self.system_keys)
            self.system_keys.clear()
        return keys

    def decoding_loop(self, max_batch: int) -> DecodingLoop:
        return DecodingLoop(self.decoder, self.tokenizer, self.prefixes, self._stop_ids, max_batch)

    def reply_job(self, request: ReplyRequest) -> GenerationJob | None:
        """The first attempt at the reply; with facts, its verdict may start a second attempt or
        hand the message to a colleague. None: handed off without running the model."""
        payload = request.payload
        assert isinstance(payload, ReplyPayload)
        if self.knowledge is not None and self.knowledge.needs_live_data(payload.text):
            request.future.set_result(self._handed_off(payload, REASON_LIVE_DATA))
            return None
        return self._attempt(request, payload, stricter=False)

    def _attempt(
        self, request: ReplyRequest, payload: ReplyPayload, *, stricter: bool
    ) -> GenerationJob:
        knowledge = self.knowledge
        prompt = build_reply_prompt(
            self.tokenizer,
            payload.history,
            payload.text,
            payload.mood,
            self._sampling.history_tokens,
            system=(lambda language: knowledge.system_text(language, payload.text))
            if knowledge is not None
            else None,
            note=(lambda language: knowledge.reply_note(language, payload.text, stricter=stricter))
            if knowledge is not None
            else None,
        )

        def done(result: GenerationResult) -> GenerationJob | None:
            if result.cancelled:
                request.future.set_result(GroundedReply(result.text))
                return None
            text = finish_reply(result.text, prompt.language, payload.mood.label, result.hit_limit)
            if knowledge is None:
                request.future.set_result(GroundedReply(text))
                return None
            verdict = self._judge(payload, prompt.language, result, text, stricter)
            if verdict is None:
                # A retry is not streamed: the draft keeps the first attempt until the final
                # message replaces it with the guarded text.
                return self._attempt(request, payload, stricter=True)
            request.future.set_result(verdict)
            return None

        on_delta = request.on_delta
        if stricter:
            on_delta = _ignore
        elif knowledge is not None:
            on_delta = DraftFilter(on_delta)
        return GenerationJob(
            prompt_ids=prompt.ids,
            sampler=RowSampler(self._sampling, self._banned, self._stop_ids),
            max_new_tokens=self._sampling.max_new_tokens,
            on_delta=on_delta,
            is_cancelled=request.cancelled.is_set,
            on_done=done,
            on_error=request.future.set_exception,
            # The retry's prompt differs after the message: the conversation keeps the first's.
            conversation=None if stricter else payload.conversation,
            shared_prefix=self._shared_prefix(prompt),
            watch_token=self._silent_token if knowledge is not None and not stricter else None,
        )

    def _judge(
        self,
        payload: ReplyPayload,
        language: Language,
        result: GenerationResult,
        text: str,
        stricter: bool,
    ) -> GroundedReply | None:
        """The reply the customer gets, or None for a second attempt (first attempt only)."""
        knowledge = self.knowledge
        assert knowledge is not None
        mood = payload.mood.label
        log.debug(
            "log P(reply opens with the silent mark) = %s for %r",
            result.watched_logprob,
            result.text[:60],
        )
        if knowledge.is_silent(result.text, result.watched_logprob):
            return self._handed_off(payload, REASON_SILENT)
        invented = knowledge.invented(text, payload.history, payload.text)
        if not stricter:
            if invented or knowledge.needs_another_try(text, language, mood):
                return None
            return GroundedReply(text)
        if invented:
            return self._handed_off(payload, f"{REASON_NUMBER} ({', '.join(sorted(invented))})")
        if text == FALLBACKS[language][mood]:
            return self._handed_off(payload, REASON_UNUSABLE)
        return GroundedReply(text)

    def _shared_prefix(self, prompt: ReplyPrompt) -> tuple[str, int] | None:
        """The system turn, cached once (pinned) when it is the same for every reply of its
        language: no facts, or facts that go in whole. Keyed by its text, so that reloaded
        facts are cached afresh."""
        if not prompt.shared_length:
            return None
        if self.knowledge is not None and not self.knowledge.index.whole:
            return None
        digest = hashlib.sha256(repr(prompt.ids[: prompt.shared_length]).encode()).hexdigest()
        key = f"system:{prompt.language}:{digest[:16]}"
        with self._keys_lock:
            self.system_keys.add(key)
        return key, prompt.shared_length

    @staticmethod
    def _handed_off(payload: ReplyPayload, reason: str) -> GroundedReply:
        language = reply_language(payload.history, payload.text)
        return GroundedReply(
            handoff_reply(language, payload.mood.label), HandOff(reason, payload.text)
        )

    def complete_job(self, request: CompleteRequest) -> GenerationJob:
        return GenerationJob(
            prompt_ids=chat_token_ids(self.tokenizer, request.messages),
            sampler=RowSampler(GREEDY, [], self._stop_ids),
            max_new_tokens=request.max_new_tokens,
            on_delta=lambda _: None,
            is_cancelled=lambda: False,
            on_done=lambda result: request.future.set_result(result.text.strip()),
            on_error=request.future.set_exception,
        )


def _ignore(_: str) -> None:
    """A retry's text is not streamed."""
