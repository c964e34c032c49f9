"""The engine through its async front door, on the tiny model."""

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bench.tiny_model import tiny_engine_config
from engine.config import SamplingConfig
from engine.decoding import DecodingLoop
from engine.knowledge import answering
from engine.knowledge.evidence import Pick
from engine.mood_engine import MoodEngine, check_prompt_fits
from engine.reply_text import finish_reply
from engine.types import Mood, ReplyCancelled, Turn
from engine.vocabulary import MOOD_LABELS
from engine.worker import BACKLOG_LIMIT


async def test_classify_returns_valid_moods(tiny_engine: MoodEngine) -> None:
    moods = await tiny_engine.classify_many(["great!", "糟糕透了", "", "x" * 5000])
    assert len(moods) == 4
    for mood in moods:
        assert mood.label in {"positive", "negative", "neutral"}
        assert 0.0 <= mood.confidence <= 1.0
        assert {"positive", "negative"} <= set(mood.probabilities) <= set(MOOD_LABELS)


async def test_concurrent_requests_each_get_their_own_answer(tiny_engine: MoodEngine) -> None:
    texts = [f"message number {i}" for i in range(12)]
    singles = [await tiny_engine.classify(text) for text in texts]
    together = await asyncio.gather(*(tiny_engine.classify(text) for text in texts))
    for one, other in zip(singles, together, strict=True):
        assert one.label == other.label
        assert one.probabilities["positive"] == pytest.approx(
            other.probabilities["positive"], abs=2e-2
        )


async def test_classify_does_not_block_the_event_loop(tiny_engine: MoodEngine) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await tiny_engine.classify_many(["some text " * 50] * 16)
    task.cancel()
    assert ticks > 1


async def test_reply_streams_and_finishes(
    tiny_engine: MoodEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished: list[tuple[str, str]] = []

    def recording_finish(raw: str, *args: object) -> str:
        text = finish_reply(raw, *args)  # type: ignore[arg-type]
        finished.append((raw, text))
        return text

    async def asks_nothing(*args: object) -> Pick:
        return Pick((), (), 1.0, 0.0, 0.0)

    monkeypatch.setattr(answering, "finish_reply", recording_finish)
    # Read as asking for no information: without facts, a question would go to a colleague.
    monkeypatch.setattr(tiny_engine, "pick", asks_nothing)
    mood = Mood("negative", 0.9, {"positive": 0.1, "negative": 0.9})
    stream = tiny_engine.reply(
        [Turn("user", "hello"), Turn("assistant", "hi!")], "my order is late", mood
    )
    deltas = [delta async for delta in stream]
    text = await stream.text()
    [(raw, finished_text)] = finished
    # The deltas are the generated text as it came, in order; at most a half-written
    # character at the very end is held back.
    streamed = "".join(deltas)
    assert deltas and all(deltas)
    assert raw.startswith(streamed) and len(raw) - len(streamed) <= 1
    # text() is that generation, finished for the customer (plain prose or a fallback).
    assert text == finished_text


async def test_replies_for_several_customers_run_together(
    tiny_engine: MoodEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = tiny_engine.backend
    widths: list[int] = []
    busy, release = threading.Event(), threading.Event()
    classify, decode = backend.classify_many, DecodingLoop._decode

    def held_classify(texts):  # type: ignore[no-untyped-def]
        busy.set()
        release.wait(30)
        return classify(texts)

    def counting_decode(loop: DecodingLoop) -> None:
        widths.append(loop.running)
        decode(loop)

    monkeypatch.setattr(backend, "classify_many", held_classify)
    monkeypatch.setattr(DecodingLoop, "_decode", counting_decode)
    # The worker is kept busy while five customers ask, so all five are admitted together.
    mood_request = asyncio.ensure_future(tiny_engine.classify("hold on"))
    assert await asyncio.to_thread(busy.wait, 30)
    mood = Mood("neutral", 0.5, {})
    streams = [tiny_engine.reply([], f"question {i}", mood) for i in range(5)]
    release.set()
    texts = await asyncio.gather(*(stream.text() for stream in streams))
    await mood_request
    assert max(widths) == 5, "the five replies should be decoded side by side"
    assert all(texts)


async def test_cancel_stops_a_reply(tiny_engine: MoodEngine) -> None:
    mood = Mood("neutral", 0.5, {})
    stream = tiny_engine.reply([], "tell me a long story", mood)
    stream.cancel()
    with pytest.raises(ReplyCancelled):
        await stream.text()
    # The worker is still healthy afterwards.
    assert (await tiny_engine.classify("fine")).label in {"positive", "negative", "neutral"}


@pytest.fixture
def talkative_engine(tiny_model_dir) -> Iterator[MoodEngine]:
    """A tiny engine that samples up to 4000 tokens, so a reply is still running when needed."""
    sampling = SamplingConfig(max_new_tokens=4000, temperature=1.0, history_tokens=64)
    engine = MoodEngine.load(replace(tiny_engine_config(tiny_model_dir), sampling=sampling))
    yield engine
    engine.close()


async def test_cancel_mid_generation_ends_early(talkative_engine: MoodEngine) -> None:
    stream = talkative_engine.reply([], "hello", Mood("neutral", 0.5, {}))
    received = 0
    async for _ in stream:
        received += 1
        if received == 3:
            stream.cancel()
    with pytest.raises(ReplyCancelled):
        await stream.text()
    for _ in range(100):
        if talkative_engine.idle:
            break
        await asyncio.sleep(0.05)
    assert talkative_engine.idle, "the cancelled row should have left the batch"


def test_sync_classification_for_batch_tools(tiny_engine: MoodEngine) -> None:
    assert threading.current_thread() is threading.main_thread()
    moods = tiny_engine.classify_many_sync(["a", "b", "c"])
    assert len(moods) == 3


async def test_moods_are_served_while_a_reply_is_generating(
    talkative_engine: MoodEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = talkative_engine.backend
    served_during_generation: list[bool] = []
    classify = backend.classify_many

    def watched_classify(texts):  # type: ignore[no-untyped-def]
        # On the worker thread: is a reply being decoded right now?
        served_during_generation.append(not talkative_engine.idle)
        return classify(texts)

    monkeypatch.setattr(backend, "classify_many", watched_classify)
    stream = talkative_engine.reply([], "hello", Mood("neutral", 0.5, {}))
    await anext(aiter(stream))
    mood = await asyncio.wait_for(talkative_engine.classify("how are you?"), timeout=30)
    assert mood.label in {"positive", "negative", "neutral"}
    assert served_during_generation == [True], "the mood should not wait for the whole reply"
    stream.cancel()
    with pytest.raises(ReplyCancelled):
        await stream.text()


async def test_complete_is_a_greedy_completion(tiny_engine: MoodEngine) -> None:
    messages = [{"role": "user", "content": "Keywords of: my parcel is late"}]
    first = await tiny_engine.complete(messages, max_new_tokens=8)
    again = await tiny_engine.complete(messages, max_new_tokens=8, low_priority=True)
    assert first == again


async def test_low_priority_completions_wait_for_running_replies(
    talkative_engine: MoodEngine,
) -> None:
    stream = talkative_engine.reply([], "hello", Mood("neutral", 0.5, {}))
    await anext(aiter(stream))
    completion = asyncio.ensure_future(
        talkative_engine.complete(
            [{"role": "user", "content": "keywords"}], max_new_tokens=2, low_priority=True
        )
    )
    await asyncio.sleep(1.0)
    assert not completion.done(), "a low-priority completion ran beside a reply"
    stream.cancel()
    assert isinstance(await asyncio.wait_for(completion, timeout=30), str)


async def test_forgetting_a_conversation_drops_its_cache(tiny_engine: MoodEngine) -> None:
    mood = Mood("neutral", 0.5, {})
    await tiny_engine.reply([], "remember me", mood, conversation="customer:77").text()
    assert tiny_engine.backend.prefixes.has("customer:77")
    tiny_engine.forget_conversation("customer:77")
    for _ in range(100):
        if not tiny_engine.backend.prefixes.has("customer:77"):
            break
        await asyncio.sleep(0.02)
    assert not tiny_engine.backend.prefixes.has("customer:77")


async def test_a_failing_step_after_the_reply_ends_the_stream_with_the_error(
    tiny_engine: MoodEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception while the written reply is checked reaches whoever awaits the reply: the
    chat is never left waiting for a reply that will not come, and the engine goes on."""

    async def asks_nothing(*args: object) -> Pick:
        return Pick((), (), 1.0, 0.0, 0.0)

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the check failed")

    monkeypatch.setattr(tiny_engine, "pick", asks_nothing)
    monkeypatch.setattr(answering, "check_reply", broken)
    stream = tiny_engine.reply([], "thanks a lot", Mood("positive", 0.9))
    with pytest.raises(RuntimeError, match="the check failed"):
        await asyncio.wait_for(stream.text(), 60)
    monkeypatch.undo()
    assert tiny_engine.healthy()
    again = tiny_engine.reply([], "thanks a lot", Mood("positive", 0.9))
    assert isinstance(await asyncio.wait_for(again.text(), 60), str)


async def test_stopping_with_50_keyword_jobs_queued_drops_the_backlog_at_once(
    talkative_engine: MoodEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """The low-priority backlog holds BACKLOG_LIMIT jobs (the oldest dropped with a log line),
    and a stop cancels what waits instead of working through it."""
    stream = talkative_engine.reply([], "hello", Mood("neutral", 0.5, {}))
    await anext(aiter(stream))
    jobs = [
        asyncio.ensure_future(
            talkative_engine.complete(
                [{"role": "user", "content": f"keywords {n}"}], max_new_tokens=24, low_priority=True
            )
        )
        for n in range(50)
    ]
    for _ in range(500):
        if talkative_engine.stats()["backlog"] == BACKLOG_LIMIT:
            break
        await asyncio.sleep(0.01)
    assert talkative_engine.stats()["backlog"] == BACKLOG_LIMIT
    dropped = [job for job in jobs[: 50 - BACKLOG_LIMIT] if job.done() and job.cancelled()]
    assert len(dropped) == 50 - BACKLOG_LIMIT
    assert sum("backlog full" in r.getMessage() for r in caplog.records) == 50 - BACKLOG_LIMIT

    # As the bot stops: the answer in progress is abandoned, then the engine closes.
    stream.cancel()
    started = time.monotonic()
    await asyncio.to_thread(talkative_engine.close)
    stopped_after = time.monotonic() - started
    await asyncio.wait(jobs, timeout=5)

    assert all(job.done() for job in jobs)
    # At most the one job that was running when the stop came ran to its end.
    assert sum(not job.cancelled() for job in jobs) <= 1
    assert stopped_after < 5.0, f"the stop took {stopped_after:.1f} s"


def test_a_reply_budget_over_the_models_context_is_refused_naming_the_keys() -> None:
    fits = SamplingConfig(history_tokens=768, max_new_tokens=120)
    check_prompt_fits(fits, context=32768)
    too_long = SamplingConfig(history_tokens=3000, max_new_tokens=200)
    with pytest.raises(ValueError, match=r"reply\.history_tokens \(3000\).*reply\.max_new_tokens"):
        check_prompt_fits(too_long, context=4096)
