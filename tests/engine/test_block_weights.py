"""4- and 8-bit block weights: the compiled kernels against plain arithmetic, the GGUF layout,
and the converted file kept in the cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import block_linear
from engine.block_linear import BlockLinear, BlockMatrix
from engine.block_quant import (
    GGML_Q4_K,
    GGML_Q8_0,
    BlockKind,
    dequantize,
    gguf_dense,
    gguf_tensor_to_blocks,
    quantize,
)
from engine.block_weights import block_weights_file, from_gguf, load_or_build
from engine.decoder import Shape
from engine.kv_cache import RowCache, causal_mask
from engine.model_cache import Progress
from engine.weights_digest import weights_digest
from tests.engine.engine_support import Tiny, load_tiny

pytestmark = pytest.mark.skipif(
    not block_linear.kernels_available(), reason="moodbot's compiled kernels are not built"
)

KINDS: tuple[BlockKind, ...] = ("q4k", "q4", "q8")


def _relative_error(ours: torch.Tensor, expected: torch.Tensor) -> float:
    return float((ours.float() - expected).norm() / expected.norm())


@pytest.fixture(params=[True, False], ids=["avx2", "portable"])
def simd(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Both versions of every kernel: the AVX2 one (where the CPU has it) and the portable C."""
    kernels = block_linear._kernels
    assert kernels is not None
    used = kernels.set_simd(request.param)
    if request.param and not used:
        pytest.skip("this CPU has no AVX2")
    yield used
    kernels.set_simd(True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rows", [1, 3, 4, 9])
def test_products_equal_the_stored_weights_times_the_input(
    simd: bool, kind: BlockKind, rows: int
) -> None:
    """Whatever the number of input rows (a decoding step, a prompt chunk), the product is
    the dequantized weights' product, up to the int8 rounding of the inputs."""
    generator = torch.Generator().manual_seed(rows)
    weight = torch.randn((80, 512), generator=generator) * 0.02
    bias = torch.randn(80, generator=generator)
    matrix = BlockMatrix(quantize(weight, kind))
    x = torch.randn((rows, 512), generator=generator)
    expected = x @ dequantize(matrix.blocks, kind).T + bias
    assert _relative_error(BlockLinear([matrix], bias)(x), expected) < 0.02


@pytest.mark.parametrize("kind", KINDS)
def test_quantized_weights_stay_close_to_the_dense_ones(kind: BlockKind) -> None:
    weight = torch.randn((64, 512), generator=torch.Generator().manual_seed(3)) * 0.02
    # Gaussian weights are 4 bits' worst case: about 8 % off; 8 bits about 0.5 %.
    limit = 0.01 if kind == "q8" else 0.1
    assert _relative_error(dequantize(quantize(weight, kind), kind), weight) < limit


def test_q4k_blocks_are_laid_out_as_ggml_reads_them() -> None:
    """gguf's own Q4_K reader (ggml's layout) finds our quantized weights in our blocks."""
    weight = torch.randn((16, 768), generator=torch.Generator().manual_seed(4)) * 0.02
    weight[3, 100] = 0.4  # an outlier: its block gets a larger scale than the others
    blocks = quantize(weight, "q4k")
    ggml = torch.from_numpy(gguf_dense(blocks.reshape(16, -1).numpy(), GGML_Q4_K))
    assert _relative_error(ggml, weight) < 0.1
    assert torch.equal(ggml, dequantize(blocks, "q4k"))


def test_parts_side_by_side_share_one_input() -> None:
    """q, k and v (here of three kinds) read one input and fill one output, each its columns."""
    generator = torch.Generator().manual_seed(5)
    parts = [
        BlockMatrix(quantize(torch.randn((n, 256), generator=generator) * 0.02, kind))
        for n, kind in ((48, "q4k"), (16, "q8"), (32, "q4"))
    ]
    bias = torch.randn(96, generator=generator)
    x = torch.randn((5, 256), generator=generator)
    together = BlockLinear(parts, bias)(x)
    alone = torch.cat([BlockLinear([part])(x) for part in parts], dim=-1) + bias
    assert torch.equal(together, alone)


@pytest.mark.parametrize("kind", KINDS)
def test_rows_are_looked_up_exactly(kind: BlockKind) -> None:
    weight = torch.randn((40, 256), generator=torch.Generator().manual_seed(6))
    matrix = BlockMatrix(quantize(weight, kind))
    ids = torch.tensor([[0, 39], [7, 7]])
    assert torch.equal(matrix.rows(ids), dequantize(matrix.blocks, kind)[ids])


def test_a_row_does_not_change_with_the_rows_beside_it() -> None:
    """The same input row gives the same output bits alone or in a batch: a reply does not
    depend on who else is decoding."""
    generator = torch.Generator().manual_seed(7)
    linear = BlockLinear(
        [
            BlockMatrix(quantize(torch.randn((64, 512), generator=generator) * 0.02, kind))
            for kind in KINDS
        ]
    )
    x = torch.randn((7, 512), generator=generator)
    batched = linear(x)
    for row in range(7):
        assert torch.equal(linear(x[row : row + 1])[0], batched[row])


def test_more_threads_give_the_same_bits() -> None:
    generator = torch.Generator().manual_seed(8)
    linear = BlockLinear(
        [BlockMatrix(quantize(torch.randn((300, 512), generator=generator), "q4k"))]
    )
    x = torch.randn((6, 512), generator=generator)
    threads = torch.get_num_threads()
    try:
        block_linear.set_threads(1)
        alone = linear(x)
        block_linear.set_threads(4)
        assert torch.equal(linear(x), alone)
    finally:
        block_linear.set_threads(threads)


def _write_gguf(path: Path, tensors: dict[str, tuple[np.ndarray, int]]) -> None:
    from gguf import GGMLQuantizationType, GGUFWriter

    writer = GGUFWriter(path, "qwen2")
    for name, (data, ggml_type) in tensors.items():
        writer.add_tensor(name, data, raw_dtype=GGMLQuantizationType(ggml_type))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_q4_k_weights_are_used_as_shipped(tmp_path: Path) -> None:
    """A GGUF's Q4_K tensors become q4k blocks byte for byte; other types become q8; norms stay
    dense; without an output tensor the head is the embedding table."""
    from gguf.quants import quantize as gguf_quantize

    generator = torch.Generator().manual_seed(9)
    q4k = quantize(torch.randn((32, 256), generator=generator) * 0.02, "q4k")
    dense = (torch.randn((16, 256), generator=generator) * 0.02).numpy()
    from gguf import GGMLQuantizationType

    q8_0 = gguf_quantize(dense, GGMLQuantizationType.Q8_0)
    norm = torch.rand(256, generator=generator).numpy()
    path = tmp_path / "model.gguf"
    _write_gguf(
        path,
        {
            "blk.0.attn_q.weight": (q4k.reshape(32, -1).numpy(), GGML_Q4_K),
            "blk.0.attn_k.weight": (q8_0, GGML_Q8_0),
            "blk.0.attn_norm.weight": (norm, 0),
            "token_embd.weight": (q8_0, GGML_Q8_0),
        },
    )
    shape = Shape(1, 2, 1, 128, 1e-6, 256, 512, 100, 4096)
    converted = dict(from_gguf(path, shape, Progress))
    assert torch.equal(converted["layers.0.q"], q4k)
    k = converted["layers.0.k"]
    assert (
        _relative_error(dequantize(k, "q8"), torch.from_numpy(gguf_dense(q8_0, GGML_Q8_0))) < 0.01
    )
    assert torch.equal(converted["layers.0.input_norm"], torch.from_numpy(norm))
    assert torch.equal(converted["head"], converted["embed"])
    assert torch.equal(gguf_tensor_to_blocks(q4k.reshape(32, -1).numpy(), GGML_Q4_K, 256), q4k)


def test_the_converted_file_is_built_once_and_loaded_after(tmp_path: Path) -> None:
    path = block_weights_file(tmp_path, "source-a", "model")
    older = block_weights_file(tmp_path, "source-old", "model")
    other_model = block_weights_file(tmp_path, "source-a", "other")
    for stale in (older, other_model):
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_bytes(b"an earlier conversion")
    built: list[int] = []

    def tensors() -> Iterator[tuple[str, torch.Tensor]]:
        built.append(1)
        yield "final_norm", torch.ones(4)

    first = load_or_build(path, "source-a", tensors)
    again = load_or_build(path, "source-a", tensors)
    assert built == [1]
    assert torch.equal(first["final_norm"], again["final_norm"])
    # The model's older conversion is gone; another model's stays.
    assert not older.exists() and other_model.exists()
    assert block_weights_file(tmp_path, "source-b", "model") != path


def test_the_weights_are_keyed_by_their_content(tmp_path: Path) -> None:
    """A model replaced under the same name gets a new key; the same weights elsewhere (a copy,
    another name) keep theirs."""
    memo = tmp_path / "digests.json"
    first, copy = tmp_path / "first", tmp_path / "copy"
    for directory in (first, copy):
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(b"weights")
    assert weights_digest(first, memo) == weights_digest(copy, memo)
    before = weights_digest(first, memo)
    (first / "model.safetensors").write_bytes(b"other weights")
    assert weights_digest(first, memo) != before


@pytest.fixture(scope="module")
def pair(tiny_model_dir: Path) -> tuple[Tiny, Tiny]:
    return load_tiny(tiny_model_dir, "bf16"), load_tiny(tiny_model_dir, "int4")


def test_int4_decoder_logits_follow_bf16(pair: tuple[Tiny, Tiny]) -> None:
    ids = torch.randint(0, 5000, (1, 12), generator=torch.Generator().manual_seed(2))
    logits = []
    for tiny in pair:
        decoder = tiny.decoder
        row = RowCache(decoder.shape, decoder.kv_dtype)
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
