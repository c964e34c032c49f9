"""Block-quantized weights: the formats engine/native/qkernels.c multiplies.

A weight matrix [out, in] is stored as uint8 [out, in / block, bytes]: each block of inputs of
one output row is
- q4k (256 inputs, 144 bytes): GGUF's Q4_K super-block, 8 sub-blocks of 32 with 6-bit scales
  and minimums under fp16 super-scales; w = d * sc * level - dmin * m, level 0..15;
- q4 (32 inputs, 20 bytes): fp16 scale d, fp16 offset m, 16 bytes of nibbles; w = d * level + m;
  byte j holds level j (low nibble) and level j + 16 (high nibble); for input sizes that are
  not a multiple of 256;
- q8 (32 inputs, 34 bytes): fp16 scale d, 32 signed levels; w = d * level, level -127..127.

Weights arrive in these formats two ways: quantized here from dense weights (any Hugging Face
model), or taken from a GGUF file, whose Q4_K tensors are q4k already (the packaged model's
4-bit weights are used exactly as shipped) and whose other types become q8.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

BLOCK = 32
SUPER_BLOCK = 256
Q4_BYTES = 20
Q8_BYTES = 34
Q4K_BYTES = 144
BlockKind = Literal["q4", "q8", "q4k"]
BLOCK_BYTES: dict[BlockKind, int] = {"q4": Q4_BYTES, "q8": Q8_BYTES, "q4k": Q4K_BYTES}
BLOCK_INPUTS: dict[BlockKind, int] = {"q4": BLOCK, "q8": BLOCK, "q4k": SUPER_BLOCK}
# Rows quantized together: their fp32 intermediates take a few MB, not a whole matrix's.
ROWS_PER_SLICE = 1024
# Ranges tried per block, shrunk from min..max: clipping a rare outlier buys finer steps for
# all the other weights of the block.
CLIP_CANDIDATES = (1.0, 0.95, 0.9, 0.85, 0.8)


class BlockFormatError(ValueError):
    """A tensor cannot be stored in or read from a block format."""


def _check_inputs(in_features: int, kind: BlockKind = "q8") -> None:
    if in_features % BLOCK_INPUTS[kind]:
        raise BlockFormatError(
            f"{kind} blocks need input sizes divisible by {BLOCK_INPUTS[kind]}, got {in_features}"
        )


def four_bit_kind(in_features: int) -> BlockKind:
    """q4k where the input size allows it (its scales multiply in integers: faster), else q4."""
    return "q4k" if in_features % SUPER_BLOCK == 0 else "q4"


def pack_q4(levels: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """q4 blocks from levels uint8 [rows, blocks, 32] (0..15) and fp16 scale and offset
    [rows, blocks]."""
    rows, blocks, _ = levels.shape
    packed = torch.empty((rows, blocks, Q4_BYTES), dtype=torch.uint8)
    packed[..., 0:2] = scale.to(torch.float16).contiguous().view(torch.uint8).view(rows, blocks, 2)
    packed[..., 2:4] = offset.to(torch.float16).contiguous().view(torch.uint8).view(rows, blocks, 2)
    packed[..., 4:] = levels[..., :16] | (levels[..., 16:] << 4)
    return packed


def pack_q8(levels: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """q8 blocks from levels int8 [rows, blocks, 32] and fp16 scale [rows, blocks]."""
    rows, blocks, _ = levels.shape
    packed = torch.empty((rows, blocks, Q8_BYTES), dtype=torch.uint8)
    packed[..., 0:2] = scale.to(torch.float16).contiguous().view(torch.uint8).view(rows, blocks, 2)
    packed[..., 2:] = levels.contiguous().view(torch.uint8)
    return packed


def _fp16(raw: torch.Tensor) -> torch.Tensor:
    """fp32 values of fp16 numbers stored as byte pairs [..., 2]."""
    return raw.contiguous().view(torch.float16).squeeze(-1).float()


def dequantize(blocks: torch.Tensor, kind: BlockKind) -> torch.Tensor:
    """The fp32 matrix [rows, in] that `blocks` stores."""
    rows, count, _ = blocks.shape
    if kind == "q4k":
        values = gguf_dense(blocks.reshape(rows, -1).numpy(), GGML_Q4_K)
        return torch.from_numpy(values.copy()).reshape(rows, count * SUPER_BLOCK)
    scale = _fp16(blocks[..., 0:2])[..., None]
    if kind == "q4":
        nibbles = blocks[..., 4:]
        levels = torch.cat([nibbles & 0x0F, nibbles >> 4], dim=-1).float()
        values = levels * scale + _fp16(blocks[..., 2:4])[..., None]
    else:
        values = blocks[..., 2:].contiguous().view(torch.int8).float() * scale
    return values.reshape(rows, count * BLOCK)


def _fit_q4(groups: torch.Tensor) -> torch.Tensor:
    """q4 blocks for fp32 groups [rows, blocks, 32]: of a few ranges shrunk from min..max, the
    one with the least squared error per block, with the error measured as stored (fp16
    scale and offset)."""
    low_full = groups.amin(-1, keepdim=True)
    high_full = groups.amax(-1, keepdim=True)
    best_error = torch.full(low_full.shape, torch.inf)
    best_levels = torch.zeros(groups.shape, dtype=torch.uint8)
    best_scale = torch.zeros(low_full.shape)
    best_offset = torch.zeros(low_full.shape)
    for shrink in CLIP_CANDIDATES:
        low, high = low_full * shrink, high_full * shrink
        scale = ((high - low) / 15).clamp(min=1e-8).half().float()
        offset = low.half().float()
        levels = ((groups - offset) / scale).round().clamp(0, 15)
        error = ((levels * scale + offset - groups) ** 2).sum(-1, keepdim=True)
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best_levels = torch.where(better, levels.to(torch.uint8), best_levels)
        best_scale = torch.where(better, scale, best_scale)
        best_offset = torch.where(better, offset, best_offset)
    return pack_q4(best_levels, best_scale.squeeze(-1), best_offset.squeeze(-1))


def _fit_q8(groups: torch.Tensor) -> torch.Tensor:
    scale = (groups.abs().amax(-1) / 127).clamp(min=1e-8).half()
    levels = (groups / scale.float()[..., None]).round().clamp(-127, 127).to(torch.int8)
    return pack_q8(levels, scale)


def _sub_block_ranges(groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per block of 32: scale s >= 0 and minimum m >= 0 with w ~ s * level - m (Q4_K's form:
    the range always holds 0), the least squared error of a few clipped ranges."""
    low_full = groups.amin(-1, keepdim=True).clamp(max=0)
    high_full = groups.amax(-1, keepdim=True).clamp(min=0)
    best_error = torch.full(low_full.shape, torch.inf)
    best_scale = torch.zeros(low_full.shape)
    best_min = torch.zeros(low_full.shape)
    for shrink in CLIP_CANDIDATES:
        low, high = low_full * shrink, high_full * shrink
        scale = ((high - low) / 15).clamp(min=1e-10)
        levels = ((groups - low) / scale).round().clamp(0, 15)
        error = ((levels * scale + low - groups) ** 2).sum(-1, keepdim=True)
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best_scale = torch.where(better, scale, best_scale)
        best_min = torch.where(better, -low, best_min)
    return best_scale.squeeze(-1), best_min.squeeze(-1)


def _fit_q4k(groups: torch.Tensor) -> torch.Tensor:
    """Q4_K super-blocks for fp32 groups [rows, blocks of 32, 32] (8 blocks per super-block),
    as ggml lays them out: the 8 scales and minimums quantized to 6 bits under fp16
    super-scales, then every level fitted to the scales as stored."""
    rows, count, _ = groups.shape
    supers = count // 8
    scale, minimum = _sub_block_ranges(groups)
    scale, minimum = scale.reshape(rows, supers, 8), minimum.reshape(rows, supers, 8)
    d = (scale.amax(-1) / 63).half()
    dmin = (minimum.amax(-1) / 63).half()
    safe_d = torch.where(d.float() > 0, d.float(), torch.ones(()))
    safe_dmin = torch.where(dmin.float() > 0, dmin.float(), torch.ones(()))
    sc = (scale / safe_d[..., None]).round().clamp(0, 63).to(torch.uint8)
    mq = (minimum / safe_dmin[..., None]).round().clamp(0, 63).to(torch.uint8)
    stored_scale = (d.float()[..., None] * sc.float()).reshape(rows, count, 1)
    stored_min = (dmin.float()[..., None] * mq.float()).reshape(rows, count, 1)
    levels = ((groups + stored_min) / stored_scale.clamp(min=1e-10)).round().clamp(0, 15)
    levels = torch.where(stored_scale > 0, levels, torch.zeros(())).to(torch.uint8)
    packed = torch.empty((rows, supers, Q4K_BYTES), dtype=torch.uint8)
    packed[..., 0:2] = d.contiguous().view(torch.uint8).view(rows, supers, 2)
    packed[..., 2:4] = dmin.contiguous().view(torch.uint8).view(rows, supers, 2)
    # ggml's packing of 8 six-bit scales and minimums into 12 bytes.
    scales = torch.zeros((rows, supers, 12), dtype=torch.uint8)
    scales[..., 0:4] = sc[..., 0:4] | ((sc[..., 4:8] >> 4) << 6)
    scales[..., 4:8] = mq[..., 0:4] | ((mq[..., 4:8] >> 4) << 6)
    scales[..., 8:12] = (sc[..., 4:8] & 0x0F) | ((mq[..., 4:8] & 0x0F) << 4)
    packed[..., 4:16] = scales
    # Sub-blocks 2j and 2j + 1 share 32 bytes: low nibbles and high nibbles.
    paired = levels.reshape(rows, supers, 4, 2, BLOCK)
    packed[..., 16:] = (paired[:, :, :, 0] | (paired[:, :, :, 1] << 4)).reshape(rows, supers, 128)
    return packed


@torch.inference_mode()
def quantize(weight: torch.Tensor, kind: BlockKind) -> torch.Tensor:
    """Blocks of a dense weight [out, in], a slice of output rows at a time (under inference
    mode: a model's weights require gradients, and autograd would keep every intermediate)."""
    out_features, in_features = weight.shape
    _check_inputs(in_features, kind)
    size = BLOCK_INPUTS[kind]
    blocks = torch.empty((out_features, in_features // size, BLOCK_BYTES[kind]), dtype=torch.uint8)
    fit = {"q4": _fit_q4, "q8": _fit_q8, "q4k": _fit_q4k}[kind]
    for start in range(0, out_features, ROWS_PER_SLICE):
        end = min(start + ROWS_PER_SLICE, out_features)
        groups = weight[start:end].float().reshape(end - start, in_features // BLOCK, BLOCK)
        blocks[start:end] = fit(groups)
    return blocks


# --- GGUF ----------------------------------------------------------------------------------

# ggml's type numbers (ggml.h) of the types converted here.
GGML_F32, GGML_F16, GGML_Q8_0, GGML_Q4_K, GGML_Q6_K, GGML_BF16 = 0, 1, 8, 12, 14, 30


def gguf_tensor_to_blocks(raw: np.ndarray, ggml_type: int, in_features: int) -> torch.Tensor:
    """A 2-D GGUF tensor [rows, bytes] as blocks: Q4_K as it is (q4k), any other type the gguf
    package reads as q8."""
    if ggml_type == GGML_Q4_K:
        _check_inputs(in_features, "q4k")
        rows = raw.shape[0]
        data = np.ascontiguousarray(raw).reshape(rows, in_features // SUPER_BLOCK, Q4K_BYTES)
        return torch.from_numpy(data.copy())
    _check_inputs(in_features, "q8")
    return quantize(torch.from_numpy(gguf_dense(raw, ggml_type)), "q8")


def gguf_dense(raw: np.ndarray, ggml_type: int) -> np.ndarray:
    """fp32 values of a GGUF tensor of any type the gguf package reads."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize as gguf_dequantize

    return np.asarray(gguf_dequantize(raw, GGMLQuantizationType(ggml_type)), dtype=np.float32)
