"""The engine's front door: mood and reply for async callers, model work on its own thread."""

from __future__ import annotations

import asyncio
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
        loaded = load_model(config, progress)
        return cls.from_loaded(loaded, config)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, config: EngineConfig) -> MoodEngine:
        """Raises FactsError when the configured facts file cannot be used."""
        knowledge = (
            KnowledgeBase(config.knowledge, LocalBackend.token_counter(loaded))
            if config.knowledge is not None
            else None
        )
        backend = LocalBackend(loaded, config, knowledge)
        return cls(backend, config, loaded.load_seconds)

    @property
    def knowledge(self) -> KnowledgeBase | None:
        return self.backend.knowledge

    def reload_knowledge(self) -> FactsIndex | None:
        """Re-read the facts file (None when there is none); raises FactsError and keeps the
        facts in use when the file has become unusable."""
        return self.backend.knowledge.reload() if self.backend.knowledge is not None else None

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

    def reply(self, history: Sequence[Turn], text: str, mood: Mood) -> ReplyStream:
        """Start a reply; must be called from a running event loop. With facts, the stream's
        finished text is the guarded one and `stream.handoff` tells whether it was handed off."""
        return ReplyStream(self._worker.submit_reply, ReplyPayload(tuple(history), text, mood))

    async def complete(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, low_priority: bool = False
    ) -> str:
        """Greedy completion of a chat; `low_priority` ones run only when no mood or reply
        waits and stop (to start over) when a reply arrives."""
        request = CompleteRequest(list(messages), max_new_tokens, low_priority)
        return await asyncio.wrap_future(self._worker.submit_complete(request))

    def healthy(self) -> bool:
        return self._worker.alive

    def close(self) -> None:
        self._worker.close()
