"""Weight-only int4 decoder layers and an int8 output head, saved beside the bf16 copy.

Decoding one token reads every weight once, so its speed is the bytes of weights per token:
int4 (group 32) layers and an int8 head read about a third of what bf16 does. torch's int4 and
int8 CPU kernels are slow on passes over many tokens, so those (prompt chunks, moods) keep
using the bf16 layer weights; the bf16 output head is dropped, as only single positions need
logits and the mood classifier keeps its own fp32 label rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import PreTrainedModel

from engine.decoder import DenseProjection, LayerWeights, Projection, dense_layers
from engine.model_cache import ProgressFactory

log = logging.getLogger(__name__)

GROUP = 32
# Passes over more tokens than this use the bf16 weights: measured on this machine's 2 cores,
# torch's int4 kernel is faster than bf16 for a few rows and up to 2x slower for a prompt.
DENSE_FROM_TOKENS = 16
FORMAT_VERSION = "2"
# Rows quantized together (a multiple of the int4 kernel's blocks): their fp32 intermediates
# take a few MB instead of a whole matrix's hundreds.
ROWS_PER_SLICE = 1024
CLIP_CANDIDATES = (1.0, 0.95, 0.9, 0.85, 0.8)
_PROJECTIONS = ("q", "k", "v", "o", "gate", "up", "down")


def _tokens(x: torch.Tensor) -> int:
    return x.numel() // x.shape[-1]


class Int4Projection:
    """int4 group-wise weights for few tokens, the bf16 weights for many."""

    def __init__(
        self,
        packed: torch.Tensor,
        scales_and_zeros: torch.Tensor,
        dense: DenseProjection,
    ) -> None:
        self.packed = packed
        self.scales_and_zeros = scales_and_zeros
        self.dense = dense

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if _tokens(x) > DENSE_FROM_TOKENS:
            return self.dense(x)
        flat = x.reshape(-1, x.shape[-1])
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(
            flat, self.packed, GROUP, self.scales_and_zeros
        )
        if self.dense.bias is not None:
            out = out + self.dense.bias
        return out.reshape(*x.shape[:-1], out.shape[-1])


class Int8Projection:
    """int8 weights with one scale per output channel."""

    def __init__(self, weight: torch.Tensor, scales: torch.Tensor) -> None:
        self.weight = weight
        self.scales = scales

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        out = torch.ops.aten._weight_int8pack_mm(flat, self.weight, self.scales)
        return out.reshape(*x.shape[:-1], out.shape[-1])


def _fit_groups(groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Levels, scale and zero per group: of a few ranges shrunk from min..max, the one with the
    least squared error (clipping a rare outlier buys finer steps for all other weights)."""
    low_full = groups.amin(-1, keepdim=True)
    high_full = groups.amax(-1, keepdim=True)
    best: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    best_error: torch.Tensor | None = None
    for shrink in CLIP_CANDIDATES:
        low, high = low_full * shrink, high_full * shrink
        scale = (high - low).clamp(min=1e-8) / 15
        levels = ((groups - low) / scale).round().clamp(0, 15)
        error = ((levels * scale + low - groups) ** 2).sum(-1, keepdim=True)
        # The kernel computes (level - 8) * scale + zero.
        candidate = (levels, scale, low + 8 * scale)
        if best is None or best_error is None:
            best, best_error = candidate, error
            continue
        better = error < best_error
        best = tuple(
            torch.where(better, new, old) for new, old in zip(candidate, best, strict=True)
        )  # type: ignore[assignment]
        best_error = torch.minimum(error, best_error)
    assert best is not None
    levels, scale, zero = best
    return levels.to(torch.int32), scale, zero


@torch.inference_mode()
def quantize_int4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Asymmetric int4 per group of 32 inputs: (packed weights, scales and zeros), a slice of
    output rows at a time (the packed layout is row-separable). Under inference mode: the
    model's weights require gradients, and autograd would keep every fp32 intermediate."""
    out_features, in_features = weight.shape
    if in_features % GROUP:
        raise ValueError(f"int4 needs input sizes divisible by {GROUP}, got {in_features}")
    packed = torch.empty((out_features, in_features // 2), dtype=torch.uint8)
    scales_and_zeros = torch.empty((in_features // GROUP, out_features, 2), dtype=torch.bfloat16)
    for start in range(0, out_features, ROWS_PER_SLICE):
        end = min(start + ROWS_PER_SLICE, out_features)
        rows = end - start
        groups = weight[start:end].float().reshape(rows, in_features // GROUP, GROUP)
        levels, scale, zero = _fit_groups(groups)
        packed[start:end] = torch.ops.aten._convert_weight_to_int4pack_for_cpu(
            levels.reshape(rows, in_features), 1
        )
        scales_and_zeros[:, start:end] = torch.stack(
            [scale.reshape(rows, -1).t(), zero.reshape(rows, -1).t()], dim=-1
        )
    return packed, scales_and_zeros


@torch.inference_mode()
def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output channel: (weights, scales), a slice of rows at a time."""
    quantized = torch.empty(weight.shape, dtype=torch.int8)
    scales = torch.empty(weight.shape[0], dtype=weight.dtype)
    for start in range(0, weight.shape[0], ROWS_PER_SLICE):
        rows = weight[start : start + ROWS_PER_SLICE].float()
        scale = rows.abs().amax(dim=1).clamp(min=1e-8) / 127
        # The kernel multiplies by the bf16 scale, so the levels are computed against it.
        scale = scale.to(weight.dtype)
        levels = (rows / scale.float()[:, None]).round().clamp(-127, 127)
        quantized[start : start + ROWS_PER_SLICE] = levels.to(torch.int8)
        scales[start : start + ROWS_PER_SLICE] = scale
    return quantized, scales


def _aligned(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.data_ptr() % 64 == 0 else tensor.clone()


def int4_weights_file(cache_dir: Path, source: str) -> Path:
    """Where the quantized weights of a model directory are kept: keyed by the directory and
    its weight files' sizes and times, so a changed model is quantized again."""
    root = Path(source)
    stamp = [source, FORMAT_VERSION]
    if root.is_dir():
        for weights in sorted(root.glob("*.safetensors")):
            info = weights.stat()
            stamp.append(f"{weights.name}:{info.st_size}:{info.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:16]
    return cache_dir / "quantized" / f"{root.name or 'model'}-{digest}-int4g{GROUP}.safetensors"


def _quantized_tensors(
    model: PreTrainedModel, progress: ProgressFactory
) -> Iterator[tuple[str, torch.Tensor]]:
    layers = dense_layers(model)
    bar = progress(len(layers) + 1, "quantizing to int4")
    try:
        for index, layer in enumerate(layers):
            for name in _PROJECTIONS:
                projection = getattr(layer, name)
                assert isinstance(projection, DenseProjection)
                packed, scales = quantize_int4(projection.weight)
                yield f"layers.{index}.{name}.packed", packed
                yield f"layers.{index}.{name}.scales_and_zeros", scales
            bar.advance(1)
        weight, scales = quantize_int8(model.get_output_embeddings().weight)
        yield "head.weight", weight
        yield "head.scales", scales
        bar.advance(1)
    finally:
        bar.close()


def load_or_quantize(
    model: PreTrainedModel, path: Path, progress: ProgressFactory
) -> dict[str, torch.Tensor]:
    """The quantized tensors from `path`, quantizing (one matrix at a time) on first use."""
    if path.is_file():
        # safetensors hands out tensors 8 bytes off a 64-byte boundary, and torch's int8
        # kernel crashes on such weights for four rows or more: copy each into fresh memory.
        with safe_open(path, "pt") as weights:
            return {name: _aligned(weights.get_tensor(name)) for name in weights.keys()}  # noqa: SIM118
    log.info("quantizing the model to int4 into %s (first start only)", path)
    tensors = dict(_quantized_tensors(model, progress))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    save_file(tensors, partial, metadata={"format": FORMAT_VERSION, "group": str(GROUP)})
    partial.replace(path)
    return tensors


def int4_layers(
    model: PreTrainedModel, tensors: dict[str, torch.Tensor]
) -> tuple[list[LayerWeights], Projection]:
    """Decoder layers with int4 projections (over the model's bf16 ones) and the int8 head."""
    layers = dense_layers(model)
    for index, layer in enumerate(layers):
        for name in _PROJECTIONS:
            dense = getattr(layer, name)
            setattr(
                layer,
                name,
                Int4Projection(
                    tensors[f"layers.{index}.{name}.packed"],
                    tensors[f"layers.{index}.{name}.scales_and_zeros"],
                    dense,
                ),
            )
    return layers, Int8Projection(tensors["head.weight"], tensors["head.scales"])


def drop_dense_head(model: PreTrainedModel) -> None:
    """Free the bf16 output head (unless it is the embedding table itself)."""
    head = model.get_output_embeddings()
    if head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        head.weight = torch.nn.Parameter(torch.empty(0, dtype=head.weight.dtype))
