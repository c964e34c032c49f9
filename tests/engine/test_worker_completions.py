"""Completions on the inference worker: a low-priority one never delays a mood or a reply."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest

from engine.mood_engine import MoodEngine
from engine.types import Mood
from engine.worker import CompleteRequest, InferenceWorker, ReplyRequest

STEPS = 100


class SteppingBackend:
    """Completions take STEPS short decoding steps; everything that happens is logged."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.completing = threading.Event()

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        self.events.append("mood")
        return [Mood("neutral", 0.5)] * len(texts)

    def generate(
        self, requests: Sequence[ReplyRequest], between_steps: Callable[[], None]
    ) -> list[str]:
        self.events.append("reply")
        return ["reply"] * len(requests)

    def complete(self, request: CompleteRequest, between_steps: Callable[[], None]) -> str | None:
        self.events.append("completion starts")
        self.completing.set()
        for _ in range(STEPS):
            between_steps()
            if request.preempted.is_set():
                self.events.append("completion stops")
                return None
            time.sleep(0.005)
        self.events.append("completion ends")
        return "done"


@pytest.fixture
def backend() -> SteppingBackend:
    return SteppingBackend()


@pytest.fixture
def worker(backend: SteppingBackend) -> Iterator[InferenceWorker]:
    worker = InferenceWorker(backend, max_batch=4)
    yield worker
    worker.close(timeout=10)


def test_a_reply_stops_a_low_priority_completion_which_then_starts_over(
    backend: SteppingBackend, worker: InferenceWorker
) -> None:
    completion = worker.submit_complete(CompleteRequest([], 8, low_priority=True))
    assert backend.completing.wait(5)
    reply = ReplyRequest(payload=None, on_delta=lambda _delta: None)
    worker.submit_reply(reply)

    assert reply.future.result(timeout=5) == "reply"
    assert completion.result(timeout=10) == "done"
    assert backend.events == [
        "completion starts",
        "completion stops",
        "reply",
        "completion starts",
        "completion ends",
    ]


def test_a_mood_is_served_while_a_completion_runs(
    backend: SteppingBackend, worker: InferenceWorker
) -> None:
    completion = worker.submit_complete(CompleteRequest([], 8, low_priority=True))
    assert backend.completing.wait(5)

    assert worker.submit_classify(["hi"]).result(timeout=5)[0].label == "neutral"
    assert "completion ends" not in backend.events
    assert completion.result(timeout=10) == "done"


def test_a_normal_completion_is_not_stopped_by_a_reply(
    backend: SteppingBackend, worker: InferenceWorker
) -> None:
    completion = worker.submit_complete(CompleteRequest([], 8, low_priority=False))
    assert backend.completing.wait(5)
    reply = ReplyRequest(payload=None, on_delta=lambda _delta: None)
    worker.submit_reply(reply)

    assert completion.result(timeout=10) == "done"
    assert reply.future.result(timeout=5) == "reply"
    assert backend.events == ["completion starts", "completion ends", "reply"]


async def test_the_model_completes_a_chat_greedily(tiny_engine: MoodEngine) -> None:
    messages = [{"role": "user", "content": "Name one fruit."}]
    first = await tiny_engine.complete(messages, max_new_tokens=6, low_priority=True)
    second = await tiny_engine.complete(messages, max_new_tokens=6)

    assert isinstance(first, str) and first == second
