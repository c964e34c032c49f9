"""Linear layers over block-quantized weights, multiplied by engine/native/qkernels.c.

Each input row is quantized to int8 once per call and multiplied with every part of the layer
(q, k and v share one input, as do gate and up), writing side by side into one fp32 output.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import torch

from engine.block_quant import BLOCK, BLOCK_BYTES, BLOCK_INPUTS, SUPER_BLOCK, BlockKind

log = logging.getLogger(__name__)


def _load_kernels() -> ModuleType | None:
    try:
        return importlib.import_module("engine._qkernels")
    except ImportError:
        return None


_kernels = _load_kernels()


class KernelsUnavailableError(RuntimeError):
    """moodbot was installed without its compiled kernels (no C compiler at install time)."""


def kernels_available() -> bool:
    return _kernels is not None


def simd_in_use() -> bool:
    """Whether the kernels run their AVX2 versions (else the portable C ones)."""
    return _kernels is not None and bool(_kernels.set_simd(True))


def set_threads(threads: int) -> None:
    if _kernels is not None:
        _kernels.set_threads(max(1, threads))


def _require() -> ModuleType:
    if _kernels is None:
        raise KernelsUnavailableError(
            "moodbot's compiled kernels are missing (engine._qkernels): reinstall moodbot where "
            'a C compiler is available, or set [model] dtype = "bf16"'
        )
    return _kernels


def block_kind(blocks: torch.Tensor) -> BlockKind:
    """The format of a blocks tensor [rows, blocks, bytes], told by its block size."""
    size = blocks.shape[-1]
    for kind, nbytes in BLOCK_BYTES.items():
        if nbytes == size:
            return kind
    raise ValueError(f"not a block tensor: blocks of {size} bytes")


# Bytes of one 256-input block of activations for q4k weights (scale, 256 levels, 16 sums).
_Q8K_BYTES = 4 + SUPER_BLOCK + 2 * SUPER_BLOCK // 16


@dataclass(frozen=True)
class BlockMatrix:
    """One weight matrix [out, in] as blocks uint8 [out, in / 32, 20 or 34]."""

    blocks: torch.Tensor

    def __post_init__(self) -> None:
        if self.blocks.dtype != torch.uint8 or self.blocks.dim() != 3:
            raise ValueError("blocks must be uint8 [rows, blocks, bytes]")
        if not self.blocks.is_contiguous():
            raise ValueError("blocks must be contiguous")

    @property
    def kind(self) -> BlockKind:
        return block_kind(self.blocks)

    @property
    def out_features(self) -> int:
        return self.blocks.shape[0]

    @property
    def in_features(self) -> int:
        return self.blocks.shape[1] * BLOCK_INPUTS[self.kind]

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """fp32 copies of the rows `ids` (an embedding lookup, the label words' head rows)."""
        kernels = _require()
        flat = ids.reshape(-1).to(torch.long).contiguous()
        out = torch.empty((flat.numel(), self.in_features), dtype=torch.float32)
        dequantize = {
            "q4": kernels.q4_dequantize,
            "q8": kernels.q8_dequantize,
            "q4k": kernels.q4_k_dequantize,
        }[self.kind]
        dequantize(
            self.blocks.data_ptr(), self.in_features, flat.data_ptr(), flat.numel(), out.data_ptr()
        )
        return out.reshape(*ids.shape, self.in_features)


class _Activations:
    """Input rows quantized for the kernels, in each format some part needs: int8 per 32 with
    scales and scaled sums (q4, q8 weights), or per 256 with sums of 16 (q4k weights)."""

    def __init__(self, x: torch.Tensor) -> None:
        self._x = x
        self._per_block: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._per_super_block: torch.Tensor | None = None

    def per_block(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._per_block is None:
            rows, width = self._x.shape
            levels = torch.empty((rows, width), dtype=torch.int8)
            scales = torch.empty((rows, width // BLOCK), dtype=torch.float32)
            sums = torch.empty_like(scales)
            _require().quantize_activations(
                self._x.data_ptr(),
                rows,
                width,
                levels.data_ptr(),
                scales.data_ptr(),
                sums.data_ptr(),
            )
            self._per_block = (levels, scales, sums)
        return self._per_block

    def per_super_block(self) -> torch.Tensor:
        if self._per_super_block is None:
            rows, width = self._x.shape
            packed = torch.empty(rows * (width // SUPER_BLOCK) * _Q8K_BYTES, dtype=torch.uint8)
            _require().quantize_activations_k(self._x.data_ptr(), rows, width, packed.data_ptr())
            self._per_super_block = packed
        return self._per_super_block


class BlockLinear:
    """x @ [part_0 | part_1 | ...].T + bias, the parts side by side in the output: a layer, or
    several layers that read the same input (q, k, v)."""

    def __init__(self, parts: Sequence[BlockMatrix], bias: torch.Tensor | None = None) -> None:
        widths = {part.in_features for part in parts}
        if len(widths) != 1:
            raise ValueError(f"parts read inputs of different widths: {sorted(widths)}")
        self.parts = list(parts)
        self.in_features = widths.pop()
        self.out_features = sum(part.out_features for part in parts)
        if bias is not None and bias.shape != (self.out_features,):
            raise ValueError(f"bias of shape {tuple(bias.shape)} for {self.out_features} outputs")
        self.bias = None if bias is None else bias.float().contiguous()

    @property
    def nbytes(self) -> int:
        return sum(part.blocks.nbytes for part in self.parts)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        kernels = _require()
        flat = x.reshape(-1, self.in_features).float().contiguous()
        rows = flat.shape[0]
        quantized = _Activations(flat)
        out = torch.empty((rows, self.out_features), dtype=torch.float32)
        column = 0
        for part in self.parts:
            bias = 0 if self.bias is None else self.bias[column:].data_ptr()
            target = out[:, column:].data_ptr()
            if part.kind == "q4k":
                kernels.q4_k_matmul(
                    part.blocks.data_ptr(),
                    part.out_features,
                    part.in_features,
                    quantized.per_super_block().data_ptr(),
                    rows,
                    target,
                    self.out_features,
                    bias,
                )
            else:
                levels, scales, sums = quantized.per_block()
                multiply = kernels.q4_matmul if part.kind == "q4" else kernels.q8_matmul
                multiply(
                    part.blocks.data_ptr(),
                    part.out_features,
                    part.in_features,
                    levels.data_ptr(),
                    scales.data_ptr(),
                    sums.data_ptr(),
                    rows,
                    target,
                    self.out_features,
                    bias,
                )
            column += part.out_features
        return out.reshape(*x.shape[:-1], self.out_features)
