"""int4 layers and the int8 head: close to bf16, saved once in the cache and loaded after."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine.quantization as quantization
from engine.decoder import DenseProjection
from engine.kv_cache import RowCache, causal_mask
from engine.model_cache import Progress
from engine.quantization import (
    DENSE_FROM_TOKENS,
    Int4Projection,
    Int8Projection,
    int4_weights_file,
    load_or_quantize,
    quantize_int4,
    quantize_int8,
)
from tests.engine.engine_support import Tiny, load_tiny


def _relative_error(ours: torch.Tensor, expected: torch.Tensor) -> float:
    return float((ours.float() - expected).norm() / expected.norm())


def test_int4_and_int8_projections_stay_close_to_bf16() -> None:
    generator = torch.Generator().manual_seed(0)
    weight = (torch.randn((2048, 1536), generator=generator) * 0.02).to(torch.bfloat16)
    x = torch.randn((3, 1536), generator=generator).to(torch.bfloat16)
    expected = x.float() @ weight.float().T
    packed, scales = quantize_int4(weight)
    int4 = Int4Projection(packed, scales, DenseProjection(weight, None))
    # Gaussian weights are int4's worst case: about 8 % off; int8 about 0.5 %.
    assert _relative_error(int4(x), expected) < 0.1
    assert _relative_error(Int8Projection(*quantize_int8(weight))(x), expected) < 0.01


def test_many_tokens_use_the_bf16_weights() -> None:
    weight = (torch.randn((64, 64)) * 0.02).to(torch.bfloat16)
    dense = DenseProjection(weight, None)
    projection = Int4Projection(*quantize_int4(weight), dense)
    many = torch.randn((1, DENSE_FROM_TOKENS + 1, 64)).to(torch.bfloat16)
    assert torch.equal(projection(many), dense(many))
    few = many[:, :DENSE_FROM_TOKENS]
    assert not torch.equal(projection(few), dense(few))


@pytest.fixture(scope="module")
def pair(tiny_model_dir: Path) -> tuple[Tiny, Tiny]:
    return load_tiny(tiny_model_dir, "bf16"), load_tiny(tiny_model_dir, "int4")


def test_int4_decoder_logits_follow_bf16(pair: tuple[Tiny, Tiny]) -> None:
    ids = torch.randint(0, 5000, (1, 12), generator=torch.Generator().manual_seed(2))
    logits = []
    for tiny in pair:
        decoder = tiny.decoder
        row = RowCache(decoder.shape, decoder.dtype)
        # One token at a time: the int4 kernels run, not the bf16 weights.
        for position in range(ids.shape[1]):
            hidden = decoder.hidden(
                ids[:, position : position + 1],
                torch.tensor([[position]]),
                row,
                causal_mask(position, 1),
            )
            row.advance(1)
        logits.append(decoder.logits(hidden[:, -1]))
    bf16, int4 = logits
    assert torch.nn.functional.cosine_similarity(bf16, int4).item() > 0.99


def test_quantized_weights_are_saved_once_and_loaded_after(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = load_tiny(tiny_model_dir, "bf16")
    path = int4_weights_file(tmp_path, str(tiny_model_dir))
    first = load_or_quantize(tiny.model, path, Progress)
    assert path.is_file()

    def refuse(weight: torch.Tensor) -> object:
        raise AssertionError("quantized again although the cache holds the weights")

    monkeypatch.setattr(quantization, "quantize_int4", refuse)
    again = load_or_quantize(tiny.model, path, Progress)
    assert first.keys() == again.keys()
    for name, tensor in first.items():
        assert torch.equal(tensor, again[name]), name
        assert again[name].data_ptr() % 64 == 0, f"{name} is not aligned for the kernels"


def test_a_changed_model_gets_its_own_quantized_file(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"one")
    before = int4_weights_file(tmp_path, str(model))
    (model / "model.safetensors").write_bytes(b"other")
    assert int4_weights_file(tmp_path, str(model)) != before
