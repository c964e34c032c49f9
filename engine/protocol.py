"""What callers (the bot, the CLI) rely on, whichever backend runs the model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol

from engine.config import EngineConfig
from engine.types import HandOff, Mood, Turn

if TYPE_CHECKING:
    from engine.knowledge.base import DeskFact, Knowledge
    from engine.knowledge.statements import Statement


class ReplyStreamLike(Protocol):
    """Iterate for text deltas; `await text()` for the finished reply (raises ReplyCancelled
    after `cancel()`)."""

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def text(self) -> str: ...

    def cancel(self) -> None: ...

    @property
    def cancelled(self) -> bool: ...

    # Once the reply is finished: the hand-off to a colleague, when the facts did not answer,
    # and the statements of the facts the reply rests on (for a hand-off, the closest one).
    handoff: HandOff | None
    evidence: tuple[Statement, ...]


class Engine(Protocol):
    config: EngineConfig
    load_seconds: float

    async def classify(self, text: str) -> Mood: ...

    async def classify_many(self, texts: Sequence[str]) -> list[Mood]: ...

    def classify_many_sync(self, texts: Sequence[str]) -> list[Mood]: ...

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStreamLike:
        """`conversation` keys the conversation's cache of its last prompt and reply."""

    def forget_conversation(self, conversation: str) -> None:
        """Drop the conversation's cache (on /reset and /forget)."""

    async def complete(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, low_priority: bool = False
    ) -> str:
        """A greedy chat-template completion; low priority ones never delay a reply."""

    def reload_knowledge(self) -> Knowledge | None:
        """Re-read the facts file; None when none is configured."""

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> None:
        """The facts the operators taught, picked from beside the file's."""

    def healthy(self) -> bool:
        """False once the engine can no longer answer (its worker died)."""

    def close(self) -> None: ...
