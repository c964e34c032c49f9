"""Choosing each next token as `model.generate()` would, one row at a time.

The rows of a continuous batch have prompts of different lengths and their own seeds, so each
row gets its own chain of transformers' logits processors (the very ones `generate()` builds, in
its order): repetition penalty, banned label tokens, then temperature, top-k and top-p.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    NoBadWordsLogitsProcessor,
    PreTrainedTokenizerBase,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from engine.config import SamplingConfig
from engine.reply_text import LABEL_WORDS


def banned_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Single tokens that spell a label word, in the casings a reply could use."""
    banned: set[int] = set()
    for word in LABEL_WORDS:
        for variant in {word, word.capitalize(), " " + word, " " + word.capitalize()}:
            ids = tokenizer.encode(variant, add_special_tokens=False)
            if len(ids) == 1:
                banned.add(ids[0])
    return [[token] for token in sorted(banned)]


def stop_token_ids(generation: GenerationConfig, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    configured = generation.eos_token_id
    ids = set(
        configured
        if isinstance(configured, list)
        else [configured]
        if configured is not None
        else []
    )
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


class RowSampler:
    """Picks the next tokens of one sequence: greedy when temperature is 0, else sampled with
    the row's own generator (seeded per reply, so a seed reproduces a reply whatever else runs
    beside it).

    With top-k set, temperature and top-p are applied to the k best tokens only, which is the
    same distribution as transformers' chain over the whole vocabulary (every other token has
    probability 0 there) at a fraction of the cost: sorting and sampling 150k probabilities
    takes longer than a decoding step's matrix products for a small batch."""

    def __init__(
        self,
        sampling: SamplingConfig,
        banned: Sequence[Sequence[int]],
        stop_ids: set[int],
    ) -> None:
        penalties: list[object] = []
        if sampling.repetition_penalty != 1.0:
            penalties.append(RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty))
        if banned:
            penalties.append(
                NoBadWordsLogitsProcessor([list(ids) for ids in banned], sorted(stop_ids))
            )
        self._penalties = LogitsProcessorList(penalties)
        self.greedy = sampling.temperature <= 0
        self._top_k = sampling.top_k
        warpers: list[object] = []
        if sampling.temperature not in (0.0, 1.0):
            warpers.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_p < 1.0:
            warpers.append(TopPLogitsWarper(top_p=sampling.top_p))
        self._warpers = LogitsProcessorList(warpers)
        self._generator: torch.Generator | None = None
        if sampling.seed is not None and not self.greedy:
            self._generator = torch.Generator().manual_seed(sampling.seed)

    def distribution(
        self, seen: torch.Tensor, logits: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Probabilities [1, candidates] to sample from, and the candidates' token ids (None:
        the whole vocabulary)."""
        scores = self._penalties(seen, logits)
        candidates = None
        if self._top_k and self._top_k < scores.shape[-1]:
            scores, candidates = scores.topk(self._top_k, dim=-1)
        return torch.softmax(self._warpers(seen, scores), dim=-1), candidates

    def next_token(self, seen: torch.Tensor, logits: torch.Tensor) -> int:
        """The next token after `seen` [1, length] (prompt and reply so far) from fp32
        next-token `logits` [1, vocabulary]."""
        if self.greedy:
            return int(self._penalties(seen, logits).argmax(dim=-1).item())
        probs, candidates = self.distribution(seen, logits)
        choice = torch.multinomial(probs, num_samples=1, generator=self._generator)
        return int((choice if candidates is None else candidates.gather(-1, choice)).item())
