"""The engine's front door: mood and reply for async callers, model work on its own thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import TypeVar

from engine.config import EngineConfig, KnowledgeConfig, SamplingConfig, handoff_intents
from engine.knowledge.answering import DeltaSink, GroundedAnswerer, WriteRequest
from engine.knowledge.base import DeskFact, Knowledge, KnowledgeBase
from engine.knowledge.evidence import Pick, PickQuestion, pick_question, read_pick
from engine.knowledge.prompts import GROUNDED_PERSONAS, evidence_note
from engine.knowledge.statements import Statement
from engine.language import Language
from engine.loading import load_model
from engine.local_backend import LocalBackend, PickReading, shared_prefix_key
from engine.model_cache import Progress, ProgressFactory
from engine.reply_prompt import build_reply_prompt
from engine.reply_stream import ReplyStream
from engine.types import GroundedReply, Mood, Turn
from engine.worker import CompleteRequest, GenerateRequest, InferenceWorker, LabelRequest

T = TypeVar("T")

# Pick prompts kept ready (per language and list of candidates: a question asked again).
PICK_QUESTIONS_KEPT = 64


# What a reply prompt holds beside the history: persona, mood cue, evidence and the message (a
# Telegram message is at most 4096 characters).
PROMPT_ALLOWANCE = 1536


def check_prompt_fits(sampling: SamplingConfig, context: int) -> None:
    """The longest reply prompt and its reply must fit the model's context: a ValueError that
    names the config keys otherwise."""
    needed = sampling.history_tokens + sampling.max_new_tokens + PROMPT_ALLOWANCE
    if needed > context:
        raise ValueError(
            f"config keys reply.history_tokens ({sampling.history_tokens}) and "
            f"reply.max_new_tokens ({sampling.max_new_tokens}), with about "
            f"{PROMPT_ALLOWANCE} tokens of persona, facts and message, need {needed} tokens, "
            f"but the model reads at most {context}: lower them"
        )


class MoodEngine:
    """Tags moods and writes replies with one model.

    Construct with `MoodEngine.load(config)` (blocking: it may convert the packaged model on
    first use) and call `close()` when done. All async methods are safe to call concurrently.
    """

    def __init__(
        self, backend: LocalBackend, config: EngineConfig, load_seconds: float = 0.0
    ) -> None:
        self.config = config
        self.backend = backend
        self.load_seconds = load_seconds
        self._worker = InferenceWorker(backend, config.max_batch)
        self._questions: dict[tuple[Language, tuple[str, ...]], PickQuestion] = {}
        self.use_knowledge(config.knowledge)

    @classmethod
    def load(cls, config: EngineConfig, progress: ProgressFactory = Progress) -> MoodEngine:
        started = time.perf_counter()
        loaded = load_model(config, progress)
        backend = LocalBackend(loaded, config)
        check_prompt_fits(config.sampling, backend.decoder.shape.context)
        return cls(backend, config, time.perf_counter() - started)

    def use_knowledge(self, config: KnowledgeConfig | None) -> None:
        """Answer from these facts from now on (None: no facts file); raises FactsError."""
        self.knowledge = KnowledgeBase(config) if config is not None else None
        self._answerer = GroundedAnswerer(
            self,
            self.knowledge,
            config.answer_threshold if config is not None else None,
            handoff_intents(self.config),
        )

    def reload_knowledge(self) -> Knowledge | None:
        """Re-read the facts file (None when there is none); raises FactsError and keeps the
        facts in use when the file has become unusable."""
        if self.knowledge is None:
            return None
        return self.knowledge.reload()

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> None:
        """The operators' facts to pick from, beside the file's."""
        if self.knowledge is not None:
            self.knowledge.set_desk_facts(facts)

    async def classify(self, text: str) -> Mood:
        (mood,) = await self.classify_many([text])
        return mood

    async def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        if not texts:
            return []
        return await asyncio.wrap_future(self._worker.submit_classify(texts))

    def classify_many_sync(self, texts: Sequence[str]) -> list[Mood]:
        """For callers without an event loop (batch tagging, evaluation)."""
        return self._worker.submit_classify(texts).result() if texts else []

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStream:
        """Start a reply; must be called from a running event loop. Replies with the same
        `conversation` key reuse the cache of the previous turn's prompt and reply. The
        stream's finished text is the checked one; `stream.handoff` tells whether it was handed
        off, `stream.evidence` what it rests on."""
        loop = asyncio.get_running_loop()

        def produce(on_delta: DeltaSink) -> Coroutine[object, object, GroundedReply]:
            def from_worker(delta: str) -> None:
                loop.call_soon_threadsafe(on_delta, delta)

            return self._answerer.answer(history, text, mood, conversation, from_worker)

        return ReplyStream(produce)

    # --- the model work the answerer asks for (engine.knowledge.answering.AnswerModel) ---

    async def pick(self, language: Language, statements: Sequence[Statement], item: str) -> Pick:
        question = self._pick_question(language, statements)
        tokenizer = self.backend.tokenizer
        ids = tuple(tokenizer.encode(item, add_special_tokens=False))
        request = LabelRequest(PickReading(question, (ids,)))
        self._worker.submit(request)
        ((choice, asks, verify),) = await self._wait(request.future)  # type: ignore[misc]
        if question.choice is None:
            return read_pick(question, None, asks.tolist())
        return read_pick(question, choice.tolist(), asks.tolist(), verify.tolist())

    def _pick_question(self, language: Language, statements: Sequence[Statement]) -> PickQuestion:
        key = (language, tuple(statement.text for statement in statements))
        question = self._questions.get(key)
        if question is None:
            if len(self._questions) >= PICK_QUESTIONS_KEPT:
                self._questions.pop(next(iter(self._questions)))
            question = pick_question(self.backend.tokenizer, language, statements)
            self._questions[key] = question
        return question

    async def write(self, request: WriteRequest, on_delta: DeltaSink) -> tuple[str, bool]:
        grounded = request.evidence is not None
        prompt = build_reply_prompt(
            self.backend.tokenizer,
            request.history,
            request.text,
            Mood(request.mood, 1.0),
            self.config.sampling.history_tokens,
            system=(lambda language: GROUNDED_PERSONAS[language]) if grounded else None,
            note=(
                lambda language: evidence_note(
                    language, list(request.evidence or ()), request.stricter
                )
            )
            if request.evidence
            else None,
        )
        generate = GenerateRequest(
            prompt_ids=prompt.ids,
            sampling=self.config.sampling,
            on_delta=on_delta,
            conversation=request.conversation,
            shared_prefix=shared_prefix_key(prompt),
        )
        self._worker.submit(generate)
        try:
            result = await self._wait(generate.future)
        except asyncio.CancelledError:
            generate.cancelled.set()
            raise
        return result.text, result.hit_limit

    @staticmethod
    async def _wait(future: Future[T]) -> T:
        return await asyncio.wrap_future(future)

    # --- the rest of the Engine protocol ---

    def forget_conversation(self, conversation: str) -> None:
        """Drop the conversation's cache (on /reset, /forget)."""
        self._worker.forget_conversation(conversation)

    async def complete(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, low_priority: bool = False
    ) -> str:
        """A greedy completion of a chat. Low priority: it runs only while no reply is being
        generated, a step at a time, so a reply never waits more than one step for it; the
        backlog of such work is bounded (the oldest is dropped) and dropped at shutdown."""
        request = CompleteRequest(messages, max_new_tokens, low_priority)
        self._worker.submit(request)
        try:
            return await asyncio.wrap_future(request.future)
        except asyncio.CancelledError:
            request.cancelled.set()
            raise

    def stats(self) -> dict[str, object]:
        return self._worker.stats()

    @property
    def idle(self) -> bool:
        """No reply or completion queued or running."""
        return self._worker.idle

    def healthy(self) -> bool:
        return self._worker.alive

    def close(self) -> None:
        self._worker.close()
