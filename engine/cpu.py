"""What this CPU multiplies fast: the engine picks its kernels by it, benchmarks report it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch


@dataclass(frozen=True)
class CpuPaths:
    # torch's name for the vector instructions it uses: "AVX2", "AVX512", "DEFAULT", ...
    capability: str
    # bf16 matrix products in hardware (AVX512-BF16 or AMX). Without them torch multiplies bf16
    # with a reference GEMM several times slower than fp32 for more than a few rows.
    fast_bf16: bool
    threads: int

    def describe(self) -> dict[str, object]:
        return {
            "cpu_capability": self.capability,
            "fast_bf16": self.fast_bf16,
            "threads": self.threads,
        }


@cache
def cpu_paths() -> CpuPaths:
    return CpuPaths(
        capability=torch.backends.cpu.get_cpu_capability(),
        fast_bf16=bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        threads=torch.get_num_threads(),
    )
