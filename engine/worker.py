"""One thread owns the model; async callers reach it through a queue.

Torch releases the GIL inside its kernels, so the event loop keeps serving Telegram while the
worker computes. Requests waiting together are batched: all pending mood requests go through
one forward pass, and up to `max_batch` replies are generated side by side.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from engine.types import GroundedReply, HandOff, Mood, ReplyCancelled

log = logging.getLogger(__name__)


@dataclass
class ClassifyRequest:
    texts: list[str]
    future: Future[list[Mood]] = field(default_factory=Future)


@dataclass
class ReplyRequest:
    """A reply to generate; `payload` is whatever the backend's generate step needs."""

    payload: object
    on_delta: Callable[[str], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future[GroundedReply] = field(default_factory=Future)


@dataclass
class CompleteRequest:
    """A greedy completion of a chat; a low-priority one yields to every mood and reply."""

    messages: list[dict[str, str]]
    max_new_tokens: int
    low_priority: bool
    future: Future[str] = field(default_factory=Future)
    # Set by the worker to stop a low-priority completion when a reply arrives.
    preempted: threading.Event = field(default_factory=threading.Event)


class Backend(Protocol):
    """What the worker thread drives."""

    def classify_many(self, texts: Sequence[str]) -> list[Mood]: ...

    def generate(
        self, requests: Sequence[ReplyRequest], between_steps: Callable[[], None]
    ) -> list[GroundedReply]:
        """Generate the replies, calling `between_steps` after every decoding step."""

    def complete(self, request: CompleteRequest, between_steps: Callable[[], None]) -> str | None:
        """Greedy completion; None when `request.preempted` stopped it."""


_STOP = object()


class InferenceWorker:
    def __init__(self, backend: Backend, max_batch: int) -> None:
        self._backend = backend
        self._max_batch = max(1, max_batch)
        self._queue: queue.Queue[object] = queue.Queue()
        # Touched by the worker thread only.
        self._backlog: list[ReplyRequest] = []
        self._completions: list[CompleteRequest] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="moodbot-inference", daemon=True)
        self._thread.start()

    def submit_classify(self, texts: Sequence[str]) -> Future[list[Mood]]:
        request = ClassifyRequest(list(texts))
        self._queue.put(request)
        return request.future

    def submit_reply(self, request: ReplyRequest) -> None:
        self._queue.put(request)

    def submit_complete(self, request: CompleteRequest) -> Future[str]:
        self._queue.put(request)
        return request.future

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float | None = None) -> None:
        """Stop after the work already queued; queued replies that are cancelled end at once."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _take(self, block: bool) -> tuple[list[ClassifyRequest], list[ReplyRequest], bool]:
        """Everything queued now (waiting for the first item when `block`), sorted by kind;
        completions join their own list."""
        classify: list[ClassifyRequest] = []
        replies: list[ReplyRequest] = []
        stop = False
        try:
            item = self._queue.get(block=block)
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, ClassifyRequest):
                    classify.append(item)
                elif isinstance(item, ReplyRequest):
                    replies.append(item)
                elif isinstance(item, CompleteRequest):
                    # Normal priority first, each kind in arrival order.
                    position = sum(not waiting.low_priority for waiting in self._completions)
                    if item.low_priority:
                        self._completions.append(item)
                    else:
                        self._completions.insert(position, item)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        return classify, replies, stop

    def _run(self) -> None:
        while True:
            idle = not self._backlog and not self._completions and not self._stopping
            self._serve_queue(block=idle)
            if self._stopping:
                self._drop_low_priority()
            if self._completions and (not self._backlog or not self._completions[0].low_priority):
                self._run_completion(self._completions.pop(0))
                continue
            if not self._backlog:
                if self._stopping:
                    return
                continue
            batch = self._backlog[: self._max_batch]
            del self._backlog[: self._max_batch]
            self._run_replies(batch)

    def _serve_queue(self, block: bool = False) -> None:
        """Answer waiting mood requests now and keep waiting replies for the next batch.

        Also called between the decoding steps of a reply batch: a mood takes one forward pass,
        and a customer should not wait for other customers' replies to learn theirs."""
        classify, replies, stop = self._take(block)
        self._stopping = self._stopping or stop
        self._backlog.extend(replies)
        self._run_classify(classify)

    def _run_classify(self, requests: list[ClassifyRequest]) -> None:
        live = [request for request in requests if request.future.set_running_or_notify_cancel()]
        if not live:
            return
        texts = [text for request in live for text in request.texts]
        try:
            moods: list[Mood] = []
            for start in range(0, len(texts), self._max_batch):
                moods.extend(self._backend.classify_many(texts[start : start + self._max_batch]))
        except Exception as exc:  # the caller decides what a failed request means
            log.exception("mood classification failed")
            for request in live:
                request.future.set_exception(exc)
            return
        offset = 0
        for request in live:
            request.future.set_result(moods[offset : offset + len(request.texts)])
            offset += len(request.texts)

    def _drop_low_priority(self) -> None:
        """At shutdown nobody waits for background work."""
        for request in self._completions:
            if request.low_priority:
                request.future.cancel()
        self._completions = [request for request in self._completions if not request.low_priority]

    def _run_completion(self, request: CompleteRequest) -> None:
        # A preempted completion comes back already running.
        if not request.future.running() and not request.future.set_running_or_notify_cancel():
            return

        def between_steps() -> None:
            self._serve_queue()
            # A reply never waits for a low-priority completion: it stops, to start over later.
            if request.low_priority and self._backlog:
                request.preempted.set()

        try:
            text = self._backend.complete(request, between_steps)
        except Exception as exc:
            log.exception("completion failed")
            request.future.set_exception(exc)
            return
        if text is None:
            request.preempted.clear()
            position = sum(not waiting.low_priority for waiting in self._completions)
            self._completions.insert(position, request)
            return
        request.future.set_result(text)

    def _run_replies(self, requests: list[ReplyRequest]) -> None:
        live = []
        for request in requests:
            if request.cancelled.is_set():
                request.future.cancel()
            if request.future.set_running_or_notify_cancel():
                live.append(request)
        if not live:
            return
        try:
            replies = self._backend.generate(live, self._serve_queue)
        except Exception as exc:
            log.exception("reply generation failed")
            for request in live:
                request.future.set_exception(exc)
            return
        for request, reply in zip(live, replies, strict=True):
            request.future.set_result(reply)


class ReplyStream:
    """The reply to one message: iterate for text deltas as they are generated, then `await
    stream.text()` for the finished (guarded) reply, and read `handoff` when the message was
    passed to a colleague; `cancel()` stops the generation."""

    def __init__(self, submit: Callable[[ReplyRequest], None], payload: object) -> None:
        self._loop = asyncio.get_running_loop()
        self._deltas: asyncio.Queue[str | None] = asyncio.Queue()
        self._request = ReplyRequest(payload=payload, on_delta=self._from_worker)
        self.handoff: HandOff | None = None
        self._request.future.add_done_callback(
            lambda _: self._loop.call_soon_threadsafe(self._deltas.put_nowait, None)
        )
        submit(self._request)

    def _from_worker(self, delta: str) -> None:
        self._loop.call_soon_threadsafe(self._deltas.put_nowait, delta)

    def cancel(self) -> None:
        self._request.cancelled.set()
        self._request.future.cancel()

    @property
    def cancelled(self) -> bool:
        return self._request.cancelled.is_set()

    async def __aiter__(self) -> AsyncIterator[str]:
        while (delta := await self._deltas.get()) is not None:
            yield delta

    async def text(self) -> str:
        """The finished reply; raises ReplyCancelled if `cancel()` stopped it."""
        try:
            reply = await asyncio.wrap_future(self._request.future)
        except asyncio.CancelledError:
            if self.cancelled:
                raise ReplyCancelled from None
            # The awaiting task itself was cancelled: nobody wants this reply any more.
            self.cancel()
            raise
        if self.cancelled:
            raise ReplyCancelled
        self.handoff = reply.handoff
        return reply.text
