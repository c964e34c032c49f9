"""The reply to one message as its callers see it, whichever backend writes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from engine.types import GroundedReply, HandOff, ReplyCancelled

if TYPE_CHECKING:
    from engine.knowledge.statements import Statement

DeltaSink = Callable[[str], None]


class ReplyStream:
    """Iterate for text deltas as the reply is written, then `await text()` for the finished
    (checked) reply; `handoff` and `evidence` then tell whether it went to a colleague and what
    it rests on. `cancel()` stops it."""

    def __init__(self, produce: Callable[[DeltaSink], Awaitable[GroundedReply]]) -> None:
        self._deltas: asyncio.Queue[str | None] = asyncio.Queue()
        self._cancelled = False
        self.handoff: HandOff | None = None
        self.evidence: tuple[Statement, ...] = ()
        self._task = asyncio.get_running_loop().create_task(
            produce(self._deltas.put_nowait), name="moodbot-reply"
        )
        # On the task's end rather than in it: a task cancelled before it starts runs no code.
        self._task.add_done_callback(lambda _: self._deltas.put_nowait(None))

    def cancel(self) -> None:
        self._cancelled = True
        self._task.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    async def __aiter__(self) -> AsyncIterator[str]:
        while (delta := await self._deltas.get()) is not None:
            yield delta

    async def text(self) -> str:
        """The finished reply; raises ReplyCancelled if `cancel()` stopped it."""
        try:
            reply = await self._task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._cancelled and not (current and current.cancelling()):
                raise ReplyCancelled from None
            # The awaiting task itself was cancelled: nobody wants this reply any more.
            self.cancel()
            raise
        if self._cancelled:
            raise ReplyCancelled
        self.handoff = reply.handoff
        self.evidence = reply.evidence
        return reply.text
