"""Our Qwen2 forward pass against transformers' on the tiny model."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from engine.decoder import Decoder, UnsupportedModelError, model_shape
from engine.kv_cache import BatchCache, RowCache, causal_mask
from tests.engine.engine_support import Tiny, load_tiny


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> Tiny:
    return load_tiny(tiny_model_dir, "bf16")


def _reference_logits(tiny: Tiny, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return tiny.model(ids).logits.float()


def test_prompt_read_in_chunks_gives_transformers_logits(tiny: Tiny) -> None:
    ids = torch.randint(0, 5000, (1, 30), generator=torch.Generator().manual_seed(0))
    decoder: Decoder = tiny.decoder
    row = RowCache(decoder.shape, decoder.kv_dtype)
    hidden = []
    for start, end in ((0, 13), (13, 29), (29, 30)):
        hidden.append(
            decoder.hidden(
                ids[:, start:end],
                torch.arange(start, end)[None],
                row,
                causal_mask(start, end - start),
            )
        )
        row.advance(end - start)
    ours = decoder.logits(torch.cat(hidden, dim=1))
    assert torch.allclose(ours, _reference_logits(tiny, ids), atol=2e-2)


def test_rows_of_different_lengths_decode_together(tiny: Tiny) -> None:
    generator = torch.Generator().manual_seed(1)
    sequences = [torch.randint(0, 5000, (1, length), generator=generator) for length in (7, 19)]
    decoder = tiny.decoder
    batch = BatchCache(decoder.shape, decoder.kv_dtype)
    for ids in sequences:
        row = RowCache(decoder.shape, decoder.kv_dtype)
        length = ids.shape[1] - 1
        decoder.hidden(ids[:, :length], torch.arange(length)[None], row, causal_mask(0, length))
        row.advance(length)
        batch.add(row)
    positions, mask = batch.begin_step()
    last = torch.cat([ids[:, -1:] for ids in sequences])
    hidden = decoder.hidden(last, positions, batch, mask)
    batch.end_step()
    logits = decoder.logits(hidden[:, -1])
    for slot, ids in enumerate(sequences):
        expected = _reference_logits(tiny, ids)[0, -1]
        assert torch.allclose(logits[slot], expected, atol=2e-2)
    assert batch.lengths == [7, 19]


def test_sliding_window_models_are_refused_with_a_reason(tiny: Tiny) -> None:
    config = copy.deepcopy(tiny.model.config)
    config.layer_types = ["sliding_attention"] * len(config.layer_types)
    with pytest.raises(UnsupportedModelError, match="sliding-window"):
        model_shape(config)


def test_other_architectures_are_refused_with_a_reason(tiny: Tiny) -> None:
    config = copy.deepcopy(tiny.model.config)
    config.model_type = "llama"
    with pytest.raises(UnsupportedModelError, match="Qwen2"):
        model_shape(config)
