"""One thread owns the model; async callers reach it through a queue.

Torch and moodbot's kernels release the GIL while they compute, so the event loop keeps serving
Telegram while the worker computes. The worker runs model work only: every decision about what
to do with a result (the facts' checks, a second attempt, a hand-off) is made by the caller, so
an error there can never stop the thread or another customer's reply.

Between decoding steps all waiting label questions (moods, intents, the facts' pick) are read in
batched forward passes; up to `max_batch` replies decode side by side, each joining and leaving
the batch on its own (engine.decoding); low-priority completions (complaint keywords) run only
while no reply does, from a bounded backlog.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from engine.config import SamplingConfig
from engine.decoding import DecodingLoop, GenerationJob, GenerationResult
from engine.types import Mood

log = logging.getLogger(__name__)

# Low-priority completions waiting at most; beyond it the oldest is dropped (and logged).
BACKLOG_LIMIT = 32


@dataclass
class ClassifyRequest:
    texts: list[str]
    future: Future[list[Mood]] = field(default_factory=Future)


@dataclass
class LabelRequest:
    """A label question over some items; `reading` is whatever the backend reads it from."""

    reading: object
    future: Future[object] = field(default_factory=Future)


@dataclass
class GenerateRequest:
    """Text to write after `prompt_ids`, streamed through `on_delta` (called on the worker)."""

    prompt_ids: list[int]
    sampling: SamplingConfig
    on_delta: Callable[[str], None]
    # Under this key the finished prompt + text stay cached for the conversation's next turn.
    conversation: str | None = None
    # (key, length): the prompt's first `length` tokens are shared by many prompts.
    shared_prefix: tuple[str, int] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future[GenerationResult] = field(default_factory=Future)


@dataclass
class CompleteRequest:
    """A greedy completion of a chat; low priority ones run only while no reply is running."""

    messages: list[dict[str, str]]
    max_new_tokens: int
    low_priority: bool
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future[str] = field(default_factory=Future)


@dataclass
class ForgetRequest:
    conversation: str


class Backend(Protocol):
    """What the worker thread drives."""

    def classify_many(self, texts: Sequence[str]) -> list[Mood]: ...

    def read_labels(self, reading: object) -> object: ...

    def generation_job(self, request: GenerateRequest) -> GenerationJob: ...

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
        self._backlog: deque[CompleteRequest] = deque()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="moodbot-inference", daemon=True)
        self._thread.start()

    def submit(self, request: object) -> None:
        self._queue.put(request)

    def submit_classify(self, texts: Sequence[str]) -> Future[list[Mood]]:
        request = ClassifyRequest(list(texts))
        self._queue.put(request)
        return request.future

    def forget_conversation(self, conversation: str) -> None:
        """Drop the conversation's cache, also the one a reply in progress would leave."""
        self._queue.put(ForgetRequest(conversation))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def idle(self) -> bool:
        """No generation admitted or running (read by tests and benchmarks)."""
        return (
            self._queue.empty()
            and not self._replies.busy
            and not self._background.busy
            and not self._backlog
        )

    def stats(self) -> dict[str, object]:
        return {"replies": self._replies.stats.as_dict(), "backlog": len(self._backlog)}

    def close(self, timeout: float | None = None) -> None:
        """Stop after the replies and questions already queued; low-priority work waiting in
        the backlog is cancelled, not done."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            busy = self._replies.busy or self._background.busy or bool(self._backlog)
            self._serve_queue(block=not busy and not self._stopping)
            if self._replies.busy:
                self._replies.step()
            elif self._background.busy or self._backlog:
                # One step of low-priority work at a time: a reply arriving meanwhile waits
                # for this step only.
                if not self._background.busy:
                    self._admit_background()
                self._background.step()
            elif self._stopping:
                return

    def _serve_queue(self, block: bool) -> None:
        """Answer waiting label questions now and admit waiting generations to their loop.

        Called between decoding steps: a mood takes one forward pass, and a customer should not
        wait for other customers' replies to learn theirs."""
        classify: list[ClassifyRequest] = []
        labels: list[LabelRequest] = []
        try:
            item = self._queue.get(block=block)
            while True:
                if item is _STOP:
                    self._stopping = True
                    self._drop_backlog()
                elif isinstance(item, ClassifyRequest):
                    classify.append(item)
                elif isinstance(item, LabelRequest):
                    labels.append(item)
                elif isinstance(item, GenerateRequest):
                    self._admit_generation(item)
                elif isinstance(item, CompleteRequest):
                    self._admit_complete(item)
                elif isinstance(item, ForgetRequest):
                    self._replies.forget(item.conversation)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        self._run_classify(classify)
        for request in labels:
            self._run_labels(request)

    def _admit_generation(self, request: GenerateRequest) -> None:
        if request.cancelled.is_set() or not request.future.set_running_or_notify_cancel():
            request.future.cancel()
            return
        try:
            job = self._backend.generation_job(request)
        except Exception as exc:
            log.exception("reply preparation failed")
            request.future.set_exception(exc)
            return
        self._replies.admit(job)

    def _admit_complete(self, request: CompleteRequest) -> None:
        if not request.low_priority:
            self._start_complete(request, self._replies)
            return
        self._backlog.append(request)
        while len(self._backlog) > BACKLOG_LIMIT:
            dropped = self._backlog.popleft()
            dropped.future.cancel()
            log.warning(
                "low-priority backlog full (%d waiting): the oldest request was dropped",
                BACKLOG_LIMIT,
            )

    def _admit_background(self) -> None:
        while self._backlog and not self._background.busy:
            self._start_complete(self._backlog.popleft(), self._background)

    def _start_complete(self, request: CompleteRequest, loop: DecodingLoop) -> None:
        if request.cancelled.is_set() or not request.future.set_running_or_notify_cancel():
            return
        try:
            job = self._backend.complete_job(request)
        except Exception as exc:
            log.exception("completion preparation failed")
            request.future.set_exception(exc)
            return
        loop.admit(job)

    def _drop_backlog(self) -> None:
        while self._backlog:
            self._backlog.popleft().future.cancel()

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

    def _run_labels(self, request: LabelRequest) -> None:
        if not request.future.set_running_or_notify_cancel():
            return
        try:
            request.future.set_result(self._backend.read_labels(request.reading))
        except Exception as exc:
            log.exception("a label question failed")
            request.future.set_exception(exc)
