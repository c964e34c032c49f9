"""One thread owns the model; async callers reach it through a queue.

Torch releases the GIL inside its kernels, so the event loop keeps serving Telegram while the
worker computes. All pending mood requests go through one forward pass between decoding steps;
up to `max_batch` replies decode side by side, each joining and leaving the batch on its own
(engine.decoding); low-priority completions run only while no reply does.
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

from engine.decoding import DecodingLoop, GenerationJob
from engine.types import GroundedReply, HandOff, Mood, ReplyCancelled

log = logging.getLogger(__name__)


@dataclass
class ClassifyRequest:
    texts: list[str]
    future: Future[list[Mood]] = field(default_factory=Future)


@dataclass
class ReplyRequest:
    """A reply to generate; `payload` is whatever the backend needs to build its prompt."""

    payload: object
    on_delta: Callable[[str], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future[GroundedReply] = field(default_factory=Future)


@dataclass
class CompleteRequest:
    """A greedy completion of a chat; low priority ones run only while no reply is running."""

    messages: list[dict[str, str]]
    max_new_tokens: int
    low_priority: bool
    future: Future[str] = field(default_factory=Future)


@dataclass
class ForgetRequest:
    conversation: str


class Backend(Protocol):
    """What the worker thread drives."""

    def classify_many(self, texts: Sequence[str]) -> list[Mood]: ...

    def reply_job(self, request: ReplyRequest) -> GenerationJob | None:
        """The job that writes the reply; None when the backend answered without the model."""

    def complete_job(self, request: CompleteRequest) -> GenerationJob: ...

    def decoding_loop(self, max_batch: int) -> DecodingLoop: ...


_STOP = object()


class InferenceWorker:
    def __init__(self, backend: Backend, max_batch: int) -> None:
        self._backend = backend
        self._max_batch = max(1, max_batch)
        self._queue: queue.Queue[object] = queue.Queue()
        # Touched by the worker thread only.
        self._replies = backend.decoding_loop(self._max_batch)
        self._background = backend.decoding_loop(1)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="moodbot-inference", daemon=True)
        self._thread.start()

    def submit_classify(self, texts: Sequence[str]) -> Future[list[Mood]]:
        request = ClassifyRequest(list(texts))
        self._queue.put(request)
        return request.future

    def submit_reply(self, request: ReplyRequest) -> None:
        self._queue.put(request)

    def submit_complete(self, request: CompleteRequest) -> None:
        self._queue.put(request)

    def forget_conversation(self, conversation: str) -> None:
        """Drop the conversation's cache, also the one a reply in progress would leave."""
        self._queue.put(ForgetRequest(conversation))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def idle(self) -> bool:
        """No generation admitted or running (read by tests and benchmarks)."""
        return self._queue.empty() and not self._replies.busy and not self._background.busy

    def close(self, timeout: float | None = None) -> None:
        """Stop after the work already queued; queued replies that are cancelled end at once."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            busy = self._replies.busy or self._background.busy
            self._serve_queue(block=not busy and not self._stopping)
            if self._replies.busy:
                self._replies.step()
            elif self._background.busy:
                # One step of low-priority work at a time: a reply arriving meanwhile waits
                # for this step only.
                self._background.step()
            elif self._stopping:
                return

    def _serve_queue(self, block: bool) -> None:
        """Answer waiting mood requests now and admit waiting generations to their loop.

        Called between decoding steps: a mood takes one forward pass, and a customer should not
        wait for other customers' replies to learn theirs."""
        classify: list[ClassifyRequest] = []
        try:
            item = self._queue.get(block=block)
            while True:
                if item is _STOP:
                    self._stopping = True
                elif isinstance(item, ClassifyRequest):
                    classify.append(item)
                elif isinstance(item, ReplyRequest):
                    self._admit_reply(item)
                elif isinstance(item, CompleteRequest):
                    self._admit_complete(item)
                elif isinstance(item, ForgetRequest):
                    self._replies.forget(item.conversation)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        self._run_classify(classify)

    def _admit_reply(self, request: ReplyRequest) -> None:
        if request.cancelled.is_set():
            request.future.cancel()
        if not request.future.set_running_or_notify_cancel():
            return
        try:
            job = self._backend.reply_job(request)
        except Exception as exc:
            log.exception("reply preparation failed")
            request.future.set_exception(exc)
            return
        if job is not None:
            self._replies.admit(job)

    def _admit_complete(self, request: CompleteRequest) -> None:
        if not request.future.set_running_or_notify_cancel():
            return
        try:
            job = self._backend.complete_job(request)
        except Exception as exc:
            log.exception("completion preparation failed")
            request.future.set_exception(exc)
            return
        (self._background if request.low_priority else self._replies).admit(job)

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
