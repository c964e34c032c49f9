"""The next-token choice: the same distribution as generate()'s processors, banned tokens never
chosen, seeds reproducible per row."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from transformers import (
    LogitsProcessorList,
    NoBadWordsLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from engine.config import SamplingConfig
from engine.sampling import RowSampler

VOCABULARY = 5000
STOP = {7}
BANNED = [[11], [12]]


def _logits(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((1, VOCABULARY), generator=generator) * 4


def _generate_distribution(sampling: SamplingConfig, seen: torch.Tensor, logits: torch.Tensor):  # type: ignore[no-untyped-def]
    """The probabilities generate() samples from, over the whole vocabulary."""
    chain = LogitsProcessorList(
        [
            RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty),
            NoBadWordsLogitsProcessor(BANNED, sorted(STOP)),
            TemperatureLogitsWarper(sampling.temperature),
            TopKLogitsWarper(top_k=sampling.top_k),
            TopPLogitsWarper(top_p=sampling.top_p),
        ]
    )
    return torch.softmax(chain(seen, logits.clone()), dim=-1)


@pytest.mark.parametrize("seed", range(5))
def test_top_k_path_samples_from_generates_distribution(seed: int) -> None:
    sampling = SamplingConfig(temperature=0.7, top_k=40, top_p=0.9, repetition_penalty=1.3)
    logits = _logits(seed)
    # The history holds some of the best tokens, so the penalty changes the ranking.
    seen = logits.topk(10).indices
    expected = _generate_distribution(sampling, seen, logits)
    probs, candidates = RowSampler(sampling, BANNED, STOP).distribution(seen, logits.clone())
    assert candidates is not None
    ours = torch.zeros_like(expected).scatter(-1, candidates, probs)
    assert torch.allclose(ours, expected, atol=1e-6)


def test_greedy_takes_the_best_token_after_the_penalties() -> None:
    logits = torch.zeros((1, VOCABULARY))
    logits[0, 11] = 9.0  # banned
    logits[0, 20] = 5.0  # already said, penalised to 5 / 2
    logits[0, 30] = 3.0
    sampler = RowSampler(SamplingConfig(temperature=0.0, repetition_penalty=2.0), BANNED, STOP)
    assert sampler.next_token(torch.tensor([[20]]), logits) == 30


def test_banned_tokens_are_never_sampled() -> None:
    logits = torch.full((1, VOCABULARY), -5.0)
    logits[0, 11] = logits[0, 12] = 20.0
    logits[0, 40] = 0.0
    sampler = RowSampler(SamplingConfig(temperature=1.0, seed=0), BANNED, STOP)
    picks = {sampler.next_token(torch.tensor([[1]]), logits) for _ in range(50)}
    assert not picks & {11, 12}


def test_a_seed_reproduces_a_row_whatever_else_is_sampled() -> None:
    sampling = SamplingConfig(temperature=1.0, top_k=50, seed=42)

    def draw(interleave: bool) -> list[int]:
        sampler = RowSampler(sampling, BANNED, STOP)
        other = RowSampler(SamplingConfig(temperature=1.0, seed=1), BANNED, STOP)
        tokens = []
        for step in range(20):
            if interleave:
                other.next_token(torch.tensor([[1]]), _logits(100 + step))
            tokens.append(sampler.next_token(torch.tensor([[1]]), _logits(step)))
        return tokens

    assert draw(False) == draw(True)
    other_seed = RowSampler(replace(sampling, seed=43), BANNED, STOP)
    assert [other_seed.next_token(torch.tensor([[1]]), _logits(s)) for s in range(20)] != draw(
        False
    )
