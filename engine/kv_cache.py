"""Keys and values the decoder has computed: one row while its prompt is read, a batch of rows
while they decode side by side."""

from __future__ import annotations

import torch

from engine.decoder import Shape

# Caches grow in steps of this many positions, so a decoding row rarely reallocates.
GROWTH = 256

LayerKV = tuple[torch.Tensor, torch.Tensor]


def _capacity(needed: int) -> int:
    return -(-needed // GROWTH) * GROWTH


def _grown(tensor: torch.Tensor, capacity: int) -> torch.Tensor:
    grown = tensor.new_zeros((*tensor.shape[:2], capacity, tensor.shape[3]))
    grown[:, :, : tensor.shape[2]] = tensor
    return grown


def kv_bytes(kv: list[LayerKV]) -> int:
    return sum(k.nbytes + v.nbytes for k, v in kv)


def causal_mask(seen: int, new: int) -> torch.Tensor:
    """[1, 1, new, seen + new]: each new token sees everything before it and itself."""
    keys = torch.arange(seen + new)
    queries = torch.arange(seen, seen + new)
    return (keys[None, :] <= queries[:, None])[None, None]


class RowCache:
    """One sequence's cache, growing as its prompt is read chunk by chunk."""

    def __init__(self, shape: Shape, dtype: torch.dtype, prefix: list[LayerKV] | None = None):
        self.length = prefix[0][0].shape[2] if prefix else 0
        capacity = _capacity(max(self.length, 1))
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        for layer in range(shape.layers):
            k = torch.empty((1, shape.kv_heads, capacity, shape.head_dim), dtype=dtype)
            v = torch.empty_like(k)
            if prefix:
                k[:, :, : self.length] = prefix[layer][0]
                v[:, :, : self.length] = prefix[layer][1]
            self.keys.append(k)
            self.values.append(v)

    def extend(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> LayerKV:
        end = self.length + keys.shape[2]
        if end > self.keys[layer].shape[2]:
            self.keys[layer] = _grown(self.keys[layer], _capacity(end))
            self.values[layer] = _grown(self.values[layer], _capacity(end))
        self.keys[layer][:, :, self.length : end] = keys
        self.values[layer][:, :, self.length : end] = values
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, tokens: int) -> None:
        self.length += tokens

    def snapshot(self, length: int | None = None) -> list[LayerKV]:
        """Copies of the first `length` positions, to keep after this row is gone."""
        end = self.length if length is None else length
        return [
            (k[:, :, :end].clone(), v[:, :, :end].clone())
            for k, v in zip(self.keys, self.values, strict=True)
        ]


class BatchCache:
    """The caches of the rows decoding together, one slot per row, each at its own length.

    Slots stay dense: a row that leaves gives its slot to the last row, so a step always runs
    over slots 0..n-1."""

    def __init__(self, shape: Shape, dtype: torch.dtype) -> None:
        self._shape = shape
        self._dtype = dtype
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.lengths: list[int] = []
        self._positions = torch.zeros(0, dtype=torch.long)

    @property
    def rows(self) -> int:
        return len(self.lengths)

    def _reserve(self, rows: int, positions: int) -> None:
        shape = self._shape
        have_rows = self.keys[0].shape[0] if self.keys else 0
        have_positions = self.keys[0].shape[2] if self.keys else 0
        if rows <= have_rows and positions <= have_positions:
            return
        size = (
            max(rows, have_rows, 1),
            shape.kv_heads,
            _capacity(max(positions, have_positions)),
            shape.head_dim,
        )
        for layer in range(shape.layers):
            for tensors in (self.keys, self.values):
                # Zeros, not garbage: a masked position still enters the attention product,
                # and a NaN there would poison the row (0 * NaN is NaN).
                fresh = torch.zeros(size, dtype=self._dtype)
                if layer < len(tensors):
                    old = tensors[layer]
                    fresh[: old.shape[0], :, : old.shape[2]] = old
                    tensors[layer] = fresh
                else:
                    tensors.append(fresh)

    def add(self, row: RowCache) -> int:
        """Copy a finished prompt's cache into a new slot; returns the slot."""
        slot = self.rows
        self._reserve(slot + 1, row.length + 1)
        for layer in range(self._shape.layers):
            self.keys[layer][slot, :, : row.length] = row.keys[layer][0, :, : row.length]
            self.values[layer][slot, :, : row.length] = row.values[layer][0, :, : row.length]
        self.lengths.append(row.length)
        return slot

    def remove(self, slot: int) -> None:
        last = self.rows - 1
        if slot != last:
            length = self.lengths[last]
            for tensors in (self.keys, self.values):
                for layer in tensors:
                    layer[slot, :, :length] = layer[last, :, :length]
            self.lengths[slot] = length
        self.lengths.pop()

    def snapshot(self, slot: int) -> list[LayerKV]:
        length = self.lengths[slot]
        return [
            (k[slot : slot + 1, :, :length].clone(), v[slot : slot + 1, :, :length].clone())
            for k, v in zip(self.keys, self.values, strict=True)
        ]

    def begin_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions [rows, 1] of the next token of each row and the attention mask for it."""
        self._reserve(self.rows, max(self.lengths) + 1)
        self._positions = torch.tensor(self.lengths, dtype=torch.long)
        seen = max(self.lengths) + 1
        mask = torch.arange(seen)[None, :] <= self._positions[:, None]
        return self._positions[:, None], mask[:, None, None, :]

    def extend(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> LayerKV:
        rows = torch.arange(self.rows)
        stored = self.keys[layer]
        stored[rows, :, self._positions] = keys[:, :, 0].to(stored.dtype)
        self.values[layer][rows, :, self._positions] = values[:, :, 0].to(stored.dtype)
        seen = max(self.lengths) + 1
        return self.keys[layer][: self.rows, :, :seen], self.values[layer][: self.rows, :, :seen]

    def end_step(self) -> None:
        self.lengths = [length + 1 for length in self.lengths]
