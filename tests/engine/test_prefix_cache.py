"""Cached prefixes: reused by prompts that start the same way, bounded, forgotten on request."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.config import SamplingConfig
from engine.kv_cache import RowCache, causal_mask, kv_bytes
from engine.prefix_cache import PrefixCache
from tests.engine.engine_support import Outcome, Tiny, chat_ids, job, load_tiny, loop_for

GREEDY = SamplingConfig(max_new_tokens=8, temperature=0.0, repetition_penalty=1.8)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> Tiny:
    return load_tiny(tiny_model_dir, "bf16")


def _kv(tiny: Tiny, ids: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    row = RowCache(tiny.decoder.shape, tiny.decoder.kv_dtype)
    tiny.decoder.hidden(
        torch.tensor([ids]), torch.arange(len(ids))[None], row, causal_mask(0, len(ids))
    )
    row.advance(len(ids))
    return row.snapshot()


def test_the_longest_common_prefix_wins(tiny: Tiny) -> None:
    cache = PrefixCache(2**30)
    cache.put("short", [1, 2, 3], _kv(tiny, [1, 2, 3]))
    cache.put("long", [1, 2, 3, 4, 5, 9], _kv(tiny, [1, 2, 3, 4, 5, 9]))
    hit = cache.longest([1, 2, 3, 4, 5, 6, 7])
    assert hit is not None and hit.length == 5
    assert hit.kv[0][0].shape[2] == 5
    # At least the last token is always left to compute: its logits choose the next one.
    whole = cache.longest([1, 2, 3])
    assert whole is not None and whole.length == 2
    assert cache.longest([8, 1, 2]) is None


def test_a_full_cache_evicts_the_least_recently_used(tiny: Tiny) -> None:
    one = _kv(tiny, list(range(1, 11)))
    cache = PrefixCache(3 * kv_bytes(one))
    cache.put("pinned", list(range(100, 110)), _kv(tiny, list(range(100, 110))), pinned=True)
    cache.put("a", list(range(1, 11)), one)
    cache.put("b", list(range(20, 30)), _kv(tiny, list(range(20, 30))))
    cache.longest(list(range(1, 12)))  # "a" is used again: "b" is now the oldest
    cache.put("c", list(range(40, 50)), _kv(tiny, list(range(40, 50))))
    assert set(cache.stored()) == {"pinned", "a", "c"}
    assert cache.used_bytes <= cache.budget_bytes


def test_a_prefix_larger_than_the_budget_is_not_kept(tiny: Tiny) -> None:
    kv = _kv(tiny, list(range(1, 11)))
    cache = PrefixCache(kv_bytes(kv) - 1)
    cache.put("big", list(range(1, 11)), kv)
    assert cache.stored() == []


def test_a_reused_prefix_gives_the_same_reply_as_a_fresh_prompt(tiny: Tiny) -> None:
    prompt = chat_ids(tiny, "where is my parcel? it has been a week")
    fresh = Outcome()
    loop = loop_for(tiny, PrefixCache(0))
    loop.admit(job(tiny, prompt, GREEDY, fresh))
    while loop.busy:
        loop.step()
    cache = PrefixCache(2**30)
    cache.put("start", prompt[:20], _kv(tiny, prompt[:20]))
    reused = Outcome()
    loop = loop_for(tiny, cache)
    loop.admit(job(tiny, prompt, GREEDY, reused))
    while loop.busy:
        loop.step()
    assert fresh.result is not None and reused.result is not None
    assert reused.result.text == fresh.result.text


def test_a_conversation_keeps_its_prompt_and_reply_for_the_next_turn(tiny: Tiny) -> None:
    cache = PrefixCache(2**30)
    loop = loop_for(tiny, cache)
    first = chat_ids(tiny, "my kettle is broken")
    outcome = Outcome()
    loop.admit(job(tiny, first, GREEDY, outcome, conversation="customer:1"))
    while loop.busy:
        loop.step()
    assert cache.stored() == ["customer:1"]
    hit = cache.longest([*first, 1, 2, 3])
    assert hit is not None
    # The prompt and the reply's tokens (all but the last, never fed back) are cached.
    assert hit.length >= len(first)
    loop.forget("customer:1")
    assert cache.stored() == []


def test_a_conversation_forgotten_while_its_reply_runs_is_not_stored(tiny: Tiny) -> None:
    cache = PrefixCache(2**30)
    loop = loop_for(tiny, cache)
    loop.admit(job(tiny, chat_ids(tiny, "hello"), GREEDY, Outcome(), conversation="c"))
    loop.step()
    loop.forget("c")
    while loop.busy:
        loop.step()
    assert not cache.has("c")


def test_the_system_prompt_is_read_once_and_pinned(tiny: Tiny) -> None:
    cache = PrefixCache(2**30)
    loop = loop_for(tiny, cache)
    prompt = chat_ids(tiny, "hello")
    shared = 5
    for text in ("one", "two"):
        outcome = Outcome()
        request = job(tiny, [*prompt[:shared], *chat_ids(tiny, text)], GREEDY, outcome)
        request.shared_prefix = ("system:en", shared)
        loop.admit(request)
        while loop.busy:
            loop.step()
    assert cache.stored() == ["system:en"]
    hit = cache.longest([*prompt[:shared], 7, 7])
    assert hit is not None and hit.length == shared
