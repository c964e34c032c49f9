"""The shape of a label question's answer positions, shared by every backend (no torch here:
an inference-server deployment reads the same questions through HTTP)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Branch:
    """Tokens that follow the item (or the `parent` branch), and the label tokens whose
    probabilities are read after them (none: a stem that other branches grow from)."""

    suffix: tuple[int, ...]
    labels: tuple[int, ...]
    parent: int | None = None
    # False: the softmax over the labels alone. True: each label's share of the whole
    # vocabulary's softmax (what is missing is the chance that the answer ends there).
    whole_vocabulary: bool = False

    def __post_init__(self) -> None:
        if not self.suffix:
            raise ValueError("a branch needs at least one token to read its labels after")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("label tokens must differ")


@dataclass(frozen=True)
class LabelTree:
    """Labels spelled in one or more tokens, read as branches: the first tokens after `suffix`,
    and wherever labels share their first tokens, the token that tells them apart after those
    (e.g. " order" then "_status" or "_change"). A label's probability is the product along its
    path; where one token already tells a label from the rest, it is read no further."""

    branches: tuple[Branch, ...]
    # Per label: (branch index, label position in that branch) along its path.
    paths: tuple[tuple[tuple[int, int], ...], ...]

    def probabilities(self, read: Sequence[Sequence[float]]) -> list[float]:
        """Per label, from the probabilities `read` of every branch asked (indexed like the
        branches' numbers)."""
        found = []
        for path in self.paths:
            probability = 1.0
            for branch, position in path:
                probability *= read[branch][position]
            found.append(probability)
        return found


def label_tree(
    suffix: Sequence[int],
    labels: Sequence[Sequence[int]],
    start: int = 0,
    parent: int | None = None,
) -> LabelTree:
    """The branches that read `labels` (token ids each) after `suffix`, which follows the item
    (or the branch `parent`), to be asked after `start` other branches: their indices (and
    those in `paths`) count from it."""
    if len({tuple(label) for label in labels}) != len(labels):
        raise ValueError("two labels are spelled the same")
    branches: list[Branch] = []
    paths: list[list[tuple[int, int]]] = [[] for _ in labels]

    def grow(
        tokens: tuple[int, ...], members: list[int], depth: int, grows_from: int | None
    ) -> None:
        # members: the labels spelled with `tokens` up to `depth`, told apart at `depth`.
        nexts = list(dict.fromkeys(labels[m][depth] for m in members if depth < len(labels[m])))
        if len(nexts) < len(members) and any(depth >= len(labels[m]) for m in members):
            raise ValueError("one label's tokens begin another's: they cannot be told apart")
        index = start + len(branches)
        branches.append(Branch(tokens, tuple(nexts), grows_from))
        for member in members:
            paths[member].append((index, nexts.index(labels[member][depth])))
        for token in nexts:
            sharing = [m for m in members if labels[m][depth] == token]
            if len(sharing) > 1:
                grow((token,), sharing, depth + 1, index)

    if any(not label for label in labels):
        raise ValueError("a label needs at least one token")
    grow(tuple(suffix), list(range(len(labels))), 0, parent)
    return LabelTree(tuple(branches), tuple(tuple(path) for path in paths))
