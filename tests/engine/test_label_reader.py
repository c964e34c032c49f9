"""Label questions read in one pass: each branch sees what a plain pass over its own prompt sees."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bench.tiny_model import tiny_engine_config
from engine.decoder import Decoder
from engine.kv_cache import RowCache, causal_mask
from engine.label_reader import Branch, LabelReader
from engine.loading import load_model
from engine.local_backend import build_decoder

LABELS = (11, 12, 13)
# The cache keeps keys and values in bf16: a branch read over cached rows and a plain pass
# round differently, by about 2e-4; reading a token the branch must not see moves it by far more.
TOLERANCE = 1e-3


@pytest.fixture(scope="module", params=["bf16", "int4"])
def decoder(tiny_model_dir: Path, request: pytest.FixtureRequest) -> Decoder:
    return build_decoder(
        load_model(replace(tiny_engine_config(tiny_model_dir), dtype=request.param))
    )


def _plain(decoder: Decoder, ids: list[int], whole_vocabulary: bool) -> torch.Tensor:
    """The labels' probabilities after `ids`, read in one plain pass, nothing cached."""
    cache = RowCache(decoder.shape, decoder.kv_dtype)
    hidden = decoder.hidden(
        torch.tensor([ids]), torch.arange(len(ids))[None], cache, causal_mask(0, len(ids))
    )[:, -1]
    if whole_vocabulary:
        return torch.softmax(decoder.logits(hidden), dim=-1)[0, list(LABELS)]
    return torch.softmax(decoder.label_logits(hidden, LABELS), dim=-1)[0]


def test_every_branch_reads_what_its_own_prompt_reads(decoder: Decoder) -> None:
    """Items of different lengths in one batch; a branch, a branch growing from it, and a
    sibling that must not see the first branch's tokens."""
    reader = LabelReader(decoder)
    prefix_ids = [5, 6, 7, 8, 9]
    prefix = reader.prefix(prefix_ids)
    branches = [
        Branch((20, 21), LABELS),
        Branch((22,), LABELS, parent=0, whole_vocabulary=True),
        Branch((23, 24, 25), LABELS),
    ]
    items = [[100, 101, 102], [200], [300, 301, 302, 303, 304]]
    read = reader.read(prefix, items, branches)
    for item, row in zip(items, read, strict=True):
        first = prefix_ids + item + [20, 21]
        expected = [
            _plain(decoder, first, False),
            _plain(decoder, [*first, 22], True),
            _plain(decoder, prefix_ids + item + [23, 24, 25], False),
        ]
        for ours, theirs in zip(row, expected, strict=True):
            assert torch.allclose(ours, theirs, atol=TOLERANCE), (ours, theirs)
        seeing_its_sibling = _plain(decoder, [*first, 23, 24, 25], False)
        assert not torch.allclose(row[2], seeing_its_sibling, atol=TOLERANCE)


def test_a_branch_must_follow_its_parent() -> None:
    reader = LabelReader.__new__(LabelReader)
    with pytest.raises(ValueError, match="after the branch"):
        reader.read(
            object(),  # type: ignore[arg-type]
            [[1]],
            [Branch((1,), LABELS, parent=1), Branch((2,), LABELS)],
        )
