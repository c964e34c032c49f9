"""Label questions: one forward pass reads which of a few label words the model would write next.

Mood, intent and the pick of the facts' evidence are all such questions. A question is a constant
prefix (its keys and values computed once), then each item's own tokens (a customer message),
then one or more short branches, each ending where a label word would follow. The branches of
an item see the prefix and the item but not each other, so one reading of the message answers
every question asked of it, each question costing only its own few tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.decoder import Decoder
from engine.kv_cache import LayerKV, RowCache, causal_mask


@dataclass(frozen=True)
class Branch:
    """Tokens that follow the item (the question's answer prefix), and the label tokens whose
    probabilities are read after them."""

    suffix: tuple[int, ...]
    labels: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.suffix:
            raise ValueError("a branch needs at least one token to read its labels after")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("label tokens must differ")


@dataclass(frozen=True)
class Prefix:
    """A question's constant opening: its tokens and their keys and values."""

    ids: tuple[int, ...]
    kv: list[LayerKV]

    @property
    def length(self) -> int:
        return len(self.ids)


class _PassStore:
    """The prefix's keys and values, shared by every row, followed by this pass's."""

    def __init__(self, prefix: list[LayerKV], rows: int) -> None:
        self._prefix = prefix
        self._rows = rows

    def extend(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cached_keys, cached_values = self._prefix[layer]
        shape = (self._rows, -1, -1, -1)
        return (
            torch.cat([cached_keys.expand(shape), keys.to(cached_keys.dtype)], dim=2),
            torch.cat([cached_values.expand(shape), values.to(cached_values.dtype)], dim=2),
        )


class LabelReader:
    def __init__(self, decoder: Decoder) -> None:
        self._decoder = decoder

    @torch.inference_mode()
    def prefix(self, ids: Sequence[int]) -> Prefix:
        decoder = self._decoder
        cache = RowCache(decoder.shape, decoder.kv_dtype)
        length = len(ids)
        decoder.hidden(
            torch.tensor([list(ids)]), torch.arange(length)[None], cache, causal_mask(0, length)
        )
        cache.advance(length)
        return Prefix(tuple(ids), cache.snapshot())

    @torch.inference_mode()
    def read(
        self, prefix: Prefix, items: Sequence[Sequence[int]], branches: Sequence[Branch]
    ) -> list[list[torch.Tensor]]:
        """Per item, per branch: the softmax over the branch's label tokens (fp32)."""
        if not items:
            return []
        rows = len(items)
        lengths = [len(item) + sum(len(branch.suffix) for branch in branches) for item in items]
        width = max(lengths)
        start = prefix.length
        ids = torch.zeros((rows, width), dtype=torch.long)
        positions = torch.full((rows, width), start, dtype=torch.long)
        # Every query sees the whole prefix; within the row, what the layout below allows.
        mask = torch.zeros((rows, 1, width, start + width), dtype=torch.bool)
        mask[..., :start] = True
        ends: list[list[int]] = []
        for row, item in enumerate(items):
            tokens = len(item)
            ids[row, :tokens] = torch.tensor(list(item), dtype=torch.long)
            positions[row, :tokens] = torch.arange(start, start + tokens)
            mask[row, 0, :tokens, start : start + tokens] = causal_mask(0, tokens)[0, 0]
            column = tokens
            row_ends = []
            for branch in branches:
                size = len(branch.suffix)
                span = slice(column, column + size)
                ids[row, span] = torch.tensor(branch.suffix, dtype=torch.long)
                positions[row, span] = torch.arange(start + tokens, start + tokens + size)
                # A branch sees the item and its own earlier tokens, not the other branches.
                mask[row, 0, span, start : start + tokens] = True
                mask[row, 0, span, start + column : start + column + size] = causal_mask(0, size)[
                    0, 0
                ]
                column += size
                row_ends.append(column - 1)
            # Padding queries see only the prefix; no real query sees a padding key.
            ends.append(row_ends)
        hidden = self._decoder.hidden(ids, positions, _PassStore(prefix.kv, rows), mask)
        results: list[list[torch.Tensor]] = [[] for _ in items]
        for index, branch in enumerate(branches):
            picked = hidden[torch.arange(rows), torch.tensor([row[index] for row in ends])]
            probabilities = torch.softmax(self._decoder.label_logits(picked, branch.labels), dim=-1)
            for row in range(rows):
                results[row].append(probabilities[row])
        return results
