"""Label questions: one forward pass reads which of a few label words the model would write next.

Mood, intent and the pick of the facts' evidence are all such questions. A question is a constant
prefix (its keys and values computed once), then each item's own tokens (a customer message),
then a tree of short branches, each ending where a label word would follow. A branch sees the
prefix, the item and the branches it grows from, never its siblings, so one reading of the
message answers every question asked of it, each question costing only its own few tokens. A
label spelled in two tokens (the "1" and "2" of "12") is read along a branch that holds its
first token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.decoder import Decoder
from engine.kv_cache import LayerKV, RowCache, causal_mask
from engine.label_questions import Branch


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


def _check_tree(branches: Sequence[Branch]) -> None:
    for index, branch in enumerate(branches):
        if branch.parent is not None and not 0 <= branch.parent < index:
            raise ValueError("a branch must come after the branch it grows from")


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
        """Per item, per branch: the probabilities of the branch's label tokens (fp32).

        The items are packed one after another into a single row, each seeing only the prefix
        and itself (and its branches their own tree): no item is padded to the longest, so a
        pass costs the tokens it reads.
        """
        if not items:
            return []
        _check_tree(branches)
        branch_tokens = sum(len(branch.suffix) for branch in branches)
        width = sum(len(item) for item in items) + branch_tokens * len(items)
        start = prefix.length
        ids = torch.zeros((1, width), dtype=torch.long)
        positions = torch.zeros((1, width), dtype=torch.long)
        # Every query sees the whole prefix; within the row, what the layout below allows.
        mask = torch.zeros((1, 1, width, start + width), dtype=torch.bool)
        mask[..., :start] = True
        ends = torch.zeros((len(items), len(branches)), dtype=torch.long)
        column = 0
        for number, item in enumerate(items):
            tokens = len(item)
            own_item = range(column, column + tokens)
            ids[0, own_item] = torch.tensor(list(item), dtype=torch.long)
            positions[0, own_item] = torch.arange(start, start + tokens)
            mask[0, 0, own_item, start + column : start + column + tokens] = causal_mask(0, tokens)[
                0, 0
            ]
            item_columns = list(own_item)
            # Per branch: its columns, and the columns (and next position) it continues from.
            spans: list[tuple[list[int], int]] = []
            column += tokens
            for index, branch in enumerate(branches):
                size = len(branch.suffix)
                own = list(range(column, column + size))
                if branch.parent is None:
                    seen, position = item_columns, start + tokens
                else:
                    parent_columns, parent_next = spans[branch.parent]
                    seen, position = parent_columns, parent_next
                ids[0, own] = torch.tensor(branch.suffix, dtype=torch.long)
                positions[0, own] = torch.arange(position, position + size)
                for offset, query in enumerate(own):
                    mask[0, 0, query, [start + key for key in seen]] = True
                    mask[0, 0, query, [start + key for key in own[: offset + 1]]] = True
                spans.append((seen + own, position + size))
                ends[number, index] = own[-1]
                column += size
        hidden = self._decoder.hidden(ids, positions, _PassStore(prefix.kv, 1), mask)[0]
        results: list[list[torch.Tensor]] = [[] for _ in items]
        for index, branch in enumerate(branches):
            picked = hidden[ends[:, index]]
            if not branch.labels:
                probabilities = torch.empty((len(items), 0))
            elif branch.whole_vocabulary:
                logits = self._decoder.logits(picked)
                probabilities = torch.softmax(logits, dim=-1)[:, list(branch.labels)]
            else:
                probabilities = torch.softmax(
                    self._decoder.label_logits(picked, branch.labels), dim=-1
                )
            for number in range(len(items)):
                results[number].append(probabilities[number])
        return results
