"""Computed keys and values of token prefixes, reused by any prompt that starts the same way.

One mechanism for every constant or repeated prefix: each language's reply system prompt
(pinned: encoded once) and each conversation's last prompt + reply (the next turn reads only
what follows the longest common prefix). Bounded by a memory budget; the least recently used
conversation goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.kv_cache import LayerKV, kv_bytes


@dataclass
class CachedPrefix:
    ids: torch.Tensor
    kv: list[LayerKV]
    nbytes: int
    pinned: bool


@dataclass(frozen=True)
class PrefixHit:
    """The first `length` positions of `kv` hold the prompt's first `length` tokens."""

    length: int
    kv: list[LayerKV]


def common_prefix(a: torch.Tensor, b: torch.Tensor) -> int:
    width = min(a.numel(), b.numel())
    differ = (a[:width] != b[:width]).nonzero()
    return int(differ[0].item()) if differ.numel() else width


class PrefixCache:
    """Thread-safe: the worker thread reads and fills it while the event loop forgets
    conversations."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, CachedPrefix] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(entry.nbytes for entry in self._entries.values())

    def stored(self) -> list[str]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._entries)

    def longest(self, ids: Sequence[int]) -> PrefixHit | None:
        """The stored prefix sharing the most leading tokens with `ids`; at least one token of
        `ids` is always left to compute, since the next token needs its logits."""
        wanted = torch.tensor(ids, dtype=torch.long)
        best: tuple[int, str] | None = None
        with self._lock:
            for key, entry in self._entries.items():
                length = min(common_prefix(wanted, entry.ids), len(ids) - 1)
                if length > 0 and (best is None or length > best[0]):
                    best = (length, key)
            if best is None:
                return None
            length, key = best
            entry = self._entries[key]
            self._entries.move_to_end(key)
            return PrefixHit(length, [(k[:, :, :length], v[:, :, :length]) for k, v in entry.kv])

    def exact(self, key: str) -> list[LayerKV] | None:
        """What `key` holds, whole (a label question's prefix), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry.kv

    def put(self, key: str, ids: Sequence[int], kv: list[LayerKV], pinned: bool = False) -> None:
        """Keep `kv` (covering `ids`) under `key`, replacing what `key` held; evicts the least
        recently used unpinned entries to stay within the budget."""
        entry = CachedPrefix(torch.tensor(ids, dtype=torch.long), kv, kv_bytes(kv), pinned)
        with self._lock:
            self._entries.pop(key, None)
            if entry.nbytes > self.budget_bytes and not pinned:
                return
            self._entries[key] = entry
            used = sum(item.nbytes for item in self._entries.values())
            for old in list(self._entries):
                if used <= self.budget_bytes:
                    break
                if old != key and not self._entries[old].pinned:
                    used -= self._entries.pop(old).nbytes

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def has(self, key: str) -> bool:
        with self._lock:
            return key in self._entries
