"""The engine's front door: mood and reply for async callers, model work on its own thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from engine.config import EngineConfig
from engine.knowledge.grounding import KnowledgeBase
from engine.knowledge.retrieval import FactsIndex
from engine.loading import LoadedModel, load_model
from engine.local_backend import LocalBackend, ReplyPayload
from engine.model_cache import Progress, ProgressFactory
from engine.types import Mood, Turn
from engine.worker import CompleteRequest, InferenceWorker, ReplyStream


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

    @classmethod
    def load(cls, config: EngineConfig, progress: ProgressFactory = Progress) -> MoodEngine:
        started = time.perf_counter()
        loaded = load_model(config, progress)
        backend = LocalBackend(loaded, config, _knowledge(loaded, config))
        return cls(backend, config, time.perf_counter() - started)

    @property
    def knowledge(self) -> KnowledgeBase | None:
        return self.backend.knowledge

    def reload_knowledge(self) -> FactsIndex | None:
        """Re-read the facts file (None when there is none); raises FactsError and keeps the
        facts in use when the file has become unusable. The cached system prompts holding the
        old facts are dropped."""
        if self.backend.knowledge is None:
            return None
        index = self.backend.knowledge.reload()
        for key in self.backend.take_system_keys():
            self._worker.forget_conversation(key)
        return index

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
        `conversation` key reuse the cache of the previous turn's prompt and reply. With facts,
        the stream's finished text is the guarded one and `stream.handoff` tells whether it was
        handed off."""
        return ReplyStream(
            self._worker.submit_reply, ReplyPayload(tuple(history), text, mood, conversation)
        )

    def forget_conversation(self, conversation: str) -> None:
        """Drop the conversation's cache (on /reset, /forget)."""
        self._worker.forget_conversation(conversation)

    async def complete(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, low_priority: bool = False
    ) -> str:
        """A greedy completion of a chat. Low priority: it runs only while no reply is being
        generated, a step at a time, so a reply never waits more than one step for it."""
        request = CompleteRequest(messages, max_new_tokens, low_priority)
        self._worker.submit_complete(request)
        return await asyncio.wrap_future(request.future)

    @property
    def idle(self) -> bool:
        """No reply or completion queued or running."""
        return self._worker.idle

    def healthy(self) -> bool:
        return self._worker.alive

    def close(self) -> None:
        self._worker.close()


def _knowledge(loaded: LoadedModel, config: EngineConfig) -> KnowledgeBase | None:
    """The configured facts; raises FactsError when the file cannot be used."""
    if config.knowledge is None:
        return None
    tokenizer = loaded.tokenizer
    return KnowledgeBase(
        config.knowledge, lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    )
