"""The shape of a label question's answer positions, shared by every backend (no torch here:
an inference-server deployment reads the same questions through HTTP)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Branch:
    """Tokens that follow the item (or the `parent` branch), and the label tokens whose
    probabilities are read after them."""

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
