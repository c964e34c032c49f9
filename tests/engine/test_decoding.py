"""The continuous-batching decoding loop on the tiny model: the same text as `generate()`, rows
joining and leaving a running batch, cancellation of one row."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import SamplingConfig
from tests.engine.engine_support import (
    Outcome,
    Tiny,
    chat_ids,
    generate_reference,
    job,
    load_tiny,
    loop_for,
    run_until_idle,
)

# A random model repeats itself under plain greedy decoding; a strong penalty makes it write
# varied tokens, so the comparison with generate() covers many different steps.
GREEDY = SamplingConfig(max_new_tokens=24, temperature=0.0, repetition_penalty=1.8)
# top_k=0: the whole-vocabulary path draws exactly as generate() does from the same seed (the
# top-k path draws from the same distribution, tests/engine/test_sampling.py).
SAMPLED = SamplingConfig(max_new_tokens=24, temperature=0.8, top_k=0, top_p=0.9, seed=5)
PROMPTS = ["hello, my order is late", "我的快递丢了", "can I change the colour of my kettle?"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> Tiny:
    return load_tiny(tiny_model_dir, "bf16")


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_one_row_writes_what_generate_writes(tiny: Tiny, sampling: SamplingConfig) -> None:
    for text in PROMPTS:
        prompt = chat_ids(tiny, text)
        outcome = Outcome()
        loop = loop_for(tiny)
        loop.admit(job(tiny, prompt, sampling, outcome))
        run_until_idle(loop)
        assert outcome.result is not None
        assert outcome.result.text == generate_reference(tiny, prompt, sampling)
        assert "".join(outcome.deltas) == outcome.result.text.rstrip("\ufffd")


def test_rows_joining_a_running_batch_write_what_they_write_alone(tiny: Tiny) -> None:
    prompts = [chat_ids(tiny, text) for text in PROMPTS]
    outcomes = [Outcome() for _ in prompts]
    loop = loop_for(tiny)
    loop.admit(job(tiny, prompts[0], GREEDY, outcomes[0]))
    for _ in range(3):
        loop.step()
    assert loop.running == 1
    # The others arrive while the first is decoding, one of them a step later still.
    loop.admit(job(tiny, prompts[1], GREEDY, outcomes[1]))
    loop.step()
    loop.admit(job(tiny, prompts[2], GREEDY, outcomes[2]))
    run_until_idle(loop)
    for prompt, outcome in zip(prompts, outcomes, strict=True):
        assert outcome.result is not None
        assert outcome.result.text == generate_reference(tiny, prompt, GREEDY)


def test_a_short_reply_is_resolved_when_it_ends_not_when_the_batch_ends(tiny: Tiny) -> None:
    long_outcome, short_outcome = Outcome(), Outcome()
    loop = loop_for(tiny)
    long_sampling = SamplingConfig(max_new_tokens=60, temperature=1.0, seed=1)
    short_sampling = SamplingConfig(max_new_tokens=3, temperature=1.0, seed=1)
    running_when_short_ended: list[int] = []
    loop.admit(job(tiny, chat_ids(tiny, "tell me a long story"), long_sampling, long_outcome))
    loop.admit(
        job(
            tiny,
            chat_ids(tiny, "hi"),
            short_sampling,
            short_outcome,
            on_done=lambda _: running_when_short_ended.append(loop.running),
        )
    )
    run_until_idle(loop)
    assert short_outcome.result is not None and long_outcome.result is not None
    assert short_outcome.result.tokens <= 3
    assert running_when_short_ended == [1], "the long reply was still decoding"
    assert long_outcome.result.tokens > 3


def test_a_row_ends_on_its_length_limit(tiny: Tiny) -> None:
    outcome = Outcome()
    loop = loop_for(tiny)
    loop.admit(job(tiny, chat_ids(tiny, "hello"), SamplingConfig(max_new_tokens=5), outcome))
    run_until_idle(loop)
    assert outcome.result is not None
    assert outcome.result.tokens == 5 and outcome.result.hit_limit


def test_cancelling_one_row_leaves_the_others_running(tiny: Tiny) -> None:
    sampling = SamplingConfig(max_new_tokens=40, temperature=1.0, seed=2)
    keep, drop = Outcome(), Outcome()
    loop = loop_for(tiny)
    loop.admit(job(tiny, chat_ids(tiny, "first customer"), sampling, keep))
    loop.admit(job(tiny, chat_ids(tiny, "second customer"), sampling, drop))
    while loop.running < 2:
        loop.step()
    drop.cancel = True
    loop.step()
    assert drop.result is not None and drop.result.cancelled
    assert keep.result is None and loop.running == 1
    run_until_idle(loop)
    assert keep.result is not None and not keep.result.cancelled
    assert keep.result.tokens == 40


def test_a_row_cancelled_before_its_prompt_is_read_never_runs(tiny: Tiny) -> None:
    outcome = Outcome(cancel=True)
    loop = loop_for(tiny)
    loop.admit(job(tiny, chat_ids(tiny, "never mind"), GREEDY, outcome))
    assert run_until_idle(loop) == 1
    assert outcome.result is not None and outcome.result.cancelled
    assert outcome.result.tokens == 0 and outcome.deltas == []


def test_no_more_rows_decode_than_the_batch_holds(tiny: Tiny) -> None:
    sampling = SamplingConfig(max_new_tokens=12, temperature=1.0, seed=3)
    outcomes = [Outcome() for _ in range(5)]
    loop = loop_for(tiny, max_batch=2)
    for index, outcome in enumerate(outcomes):
        loop.admit(job(tiny, chat_ids(tiny, f"customer {index}"), sampling, outcome))
    most = 0
    while loop.busy:
        loop.step()
        most = max(most, loop.running)
    assert most == 2
    assert all(outcome.result is not None for outcome in outcomes)


def test_a_failing_step_fails_every_row_and_the_loop_recovers(tiny: Tiny) -> None:
    outcome = Outcome()
    loop = loop_for(tiny)
    # Out of the vocabulary: the embedding lookup raises.
    loop.admit(job(tiny, [len(tiny.tokenizer) + 10], GREEDY, outcome))
    run_until_idle(loop)
    assert isinstance(outcome.error, IndexError)
    again = Outcome()
    loop.admit(job(tiny, chat_ids(tiny, "hello"), GREEDY, again))
    run_until_idle(loop)
    assert again.result is not None


def test_a_failing_callback_ends_its_own_job_and_no_other(tiny: Tiny) -> None:
    """Whatever a finished row's callback raises, that job ends with the error (its caller is
    never left waiting) and the rows beside it finish as usual."""
    outcomes = [Outcome() for _ in PROMPTS]

    def explode(_: object) -> None:
        raise RuntimeError("a check after the reply failed")

    loop = loop_for(tiny)
    for index, (text, outcome) in enumerate(zip(PROMPTS, outcomes, strict=True)):
        loop.admit(
            job(
                tiny, chat_ids(tiny, text), GREEDY, outcome, on_done=explode if index == 1 else None
            )
        )
    run_until_idle(loop)
    failed = outcomes[1]
    assert isinstance(failed.error, RuntimeError)
    for outcome in (outcomes[0], outcomes[2]):
        assert outcome.error is None and outcome.result is not None
        assert outcome.result.text
