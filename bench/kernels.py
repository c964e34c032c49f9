"""Kernel speed: the decoder's 28 layers of q4k products (engine/native/qkernels.c) for 1 to 128
input rows, against fbgemm's int8 GEMM on the same shapes, same run.

Run: .venv/bin/python -m bench.kernels [--runs N] [--rows 1,4,48] [--baseline PATH.so]
         [--q8-layers 14] [--head]
Prints a JSON line per row count, then one JSON object with all of them. Builds Qwen2.5-1.5B's
layer shapes from random weights (no model is loaded): q, k, v and gate, up share an input as in
the decoder; 28 layers in distinct memory, so one token reads ~0.74 GB of weights as decoding
does, not a copy that fits the cache. --q8-layers N stores v and down of N layers as q8, as the
packaged GGUF's Q6_K tensors arrive (14 layers there); --head adds the output head (151936 rows,
q8) at one row, as decoding reads it.

The machine is shared: every measurement is repeated, the kernels under test, the baseline
(--baseline: another build of the module, e.g. the last commit's) and fbgemm take turns within
each repetition, and the speedups are medians of the same rounds' ratios; absolute times move
with the load (reported at start and end). fbgemm is the reference for many rows; for one or a
few it is far from its best (under 2 GB/s of weights at one row).

A baseline build of the last commit's kernels, with setuptools' flags:
  git show HEAD:engine/native/qkernels.c > /tmp/qk_base.c
  gcc -DNDEBUG -fwrapv -O3 -fPIC -pthread -fno-strict-aliasing -shared \
      -I"$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
      /tmp/qk_base.c -o /tmp/qk_base.so -lm
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable
from types import ModuleType

import torch

from engine import block_linear
from engine.block_linear import BlockLinear, BlockMatrix
from engine.block_quant import quantize

HIDDEN, INTERMEDIATE, KV, VOCAB = 1536, 8960, 256, 151936
LAYERS = 28
ROWS = (1, 2, 4, 8, 16, 48, 128)


def load_kernels(path: str) -> ModuleType:
    """Another build of engine._qkernels, loaded beside the installed one."""
    loader = importlib.machinery.ExtensionFileLoader("_qkernels", path)
    spec = importlib.util.spec_from_file_location("_qkernels", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def weight(rows: int, columns: int, seed: int) -> torch.Tensor:
    return torch.randn((rows, columns), generator=torch.Generator().manual_seed(seed)) * 0.02


class Layer:
    """One decoder layer's products as the decoder groups them."""

    def __init__(
        self, parts: dict[str, torch.Tensor], q8_parts: dict[str, torch.Tensor], bias: torch.Tensor
    ) -> None:
        # clone: each layer's weights in their own memory
        def matrix(name: str) -> BlockMatrix:
            return BlockMatrix(q8_parts.get(name, parts[name]).clone())

        self.qkv = BlockLinear([matrix("q"), matrix("k"), matrix("v")], bias.clone())
        self.o = BlockLinear([matrix("o")])
        self.gate_up = BlockLinear([matrix("gate"), matrix("up")])
        self.down = BlockLinear([matrix("down")])

    def __call__(self, x: torch.Tensor, h: torch.Tensor) -> None:
        self.qkv(x)
        self.o(x)
        self.gate_up(x)
        self.down(h)


class FbgemmLayer:
    """The same products through torch's dynamic int8 linear (fbgemm, per-channel weights)."""

    @staticmethod
    def pack(w: torch.Tensor, b: torch.Tensor | None = None) -> object:
        scales = (w.abs().amax(1) / 127).double().clamp(min=1e-12)
        zeros = torch.zeros(w.shape[0], dtype=torch.long)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantized tensors are deprecated, fbgemm is not
            q = torch.quantize_per_channel(w, scales, zeros, 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(q, b)

    def __init__(self, dense: dict[str, torch.Tensor], bias: torch.Tensor) -> None:
        pack = self.pack
        self.qkv = pack(torch.cat([dense["q"], dense["k"], dense["v"]]), bias)
        self.o = pack(dense["o"])
        self.gate_up = pack(torch.cat([dense["gate"], dense["up"]]))
        self.down = pack(dense["down"])

    def __call__(self, x: torch.Tensor, h: torch.Tensor) -> None:
        linear = torch.ops.quantized.linear_dynamic
        linear(x, self.qkv)
        linear(x, self.o)
        linear(x, self.gate_up)
        linear(h, self.down)


def shapes() -> dict[str, tuple[int, int]]:
    return {
        "q": (HIDDEN, HIDDEN),
        "k": (KV, HIDDEN),
        "v": (KV, HIDDEN),
        "o": (HIDDEN, HIDDEN),
        "gate": (INTERMEDIATE, HIDDEN),
        "up": (INTERMEDIATE, HIDDEN),
        "down": (HIDDEN, INTERMEDIATE),
    }


def weights_per_layer() -> int:
    return sum(rows * columns for rows, columns in shapes().values())


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(passes: dict[str, Callable[[], None]], runs: int, rows: int, ops: float) -> dict:
    """Medians of `runs` timings of each pass, taking turns (the order reversed every other
    round), and the kernels' speedups as medians of the same rounds' ratios: a busy moment
    slows every candidate of its round alike."""
    for run in passes.values():
        run()  # warm: threads spinning, pages touched
    times: dict[str, list[float]] = {name: [] for name in passes}
    for round_ in range(runs):
        names = list(passes) if round_ % 2 == 0 else list(reversed(passes))
        for name in names:
            times[name].append(timed(passes[name]))
    row: dict[str, object] = {}
    for name, samples in times.items():
        median = statistics.median(samples)
        row[name] = {
            "ms_per_pass": round(median * 1e3, 2),
            "ms_per_token": round(median * 1e3 / rows, 3),
            "gops": round(ops / median / 1e9, 1),
            "spread_ms": [round(min(samples) * 1e3, 2), round(max(samples) * 1e3, 2)],
        }
    for name, samples in times.items():
        if name != "kernels":
            ratios = [other / ours for other, ours in zip(samples, times["kernels"], strict=True)]
            row[f"kernels_speedup_vs_{name}"] = round(statistics.median(ratios), 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="repetitions per row count")
    parser.add_argument("--rows", default=",".join(map(str, ROWS)), help="input rows per pass")
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--baseline", help="another build of engine._qkernels to compare")
    parser.add_argument("--no-fbgemm", action="store_true", help="skip the fbgemm reference")
    parser.add_argument("--q8-layers", type=int, default=0, help="layers with v and down as q8")
    parser.add_argument("--head", action="store_true", help="also the output head, one row")
    args = parser.parse_args()
    rows_list = [int(r) for r in args.rows.split(",")]

    threads = torch.get_num_threads()
    block_linear.set_threads(threads)
    installed = block_linear._kernels
    assert installed is not None, "moodbot's kernels are not built"
    candidates: dict[str, ModuleType] = {"kernels": installed}
    if args.baseline:
        baseline = load_kernels(args.baseline)
        baseline.set_threads(threads)
        candidates["baseline"] = baseline

    dense = {name: weight(*shape, seed=i) for i, (name, shape) in enumerate(shapes().items())}
    blocks = {name: quantize(w, "q4k") for name, w in dense.items()}
    q8_blocks = {name: quantize(dense[name], "q8") for name in ("v", "down")}
    bias = weight(HIDDEN + 2 * KV, 1, seed=99).reshape(-1)
    layers = [
        Layer(blocks, q8_blocks if i < args.q8_layers else {}, bias) for i in range(args.layers)
    ]
    fbgemm = [] if args.no_fbgemm else [FbgemmLayer(dense, bias) for _ in range(args.layers)]
    del dense, blocks, q8_blocks

    def kernels_pass(module: ModuleType, x: torch.Tensor, h: torch.Tensor) -> Callable[[], None]:
        def run() -> None:
            block_linear._kernels = module
            for layer in layers:
                layer(x, h)

        return run

    def fbgemm_pass(x: torch.Tensor, h: torch.Tensor) -> Callable[[], None]:
        def run() -> None:
            for layer in fbgemm:
                layer(x, h)

        return run

    load_before = os.getloadavg()
    results = []
    generator = torch.Generator().manual_seed(0)
    for rows in rows_list:
        x = torch.randn((rows, HIDDEN), generator=generator)
        h = torch.randn((rows, INTERMEDIATE), generator=generator)
        passes = {name: kernels_pass(module, x, h) for name, module in candidates.items()}
        if fbgemm:
            passes["fbgemm"] = fbgemm_pass(x, h)
        ops = 2 * rows * weights_per_layer() * args.layers
        row = {"rows": rows, **compare(passes, args.runs, rows, ops)}
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.head:
        head_weight = weight(VOCAB, HIDDEN, seed=100)
        head = BlockLinear([BlockMatrix(quantize(head_weight, "q8"))])
        head_packed = None if args.no_fbgemm else FbgemmLayer.pack(head_weight)
        del head_weight
        x = torch.randn((1, HIDDEN), generator=generator)

        def head_pass(module: ModuleType) -> Callable[[], None]:
            def run() -> None:
                block_linear._kernels = module
                head(x)

            return run

        passes = {name: head_pass(module) for name, module in candidates.items()}
        if head_packed is not None:
            passes["fbgemm"] = lambda: torch.ops.quantized.linear_dynamic(x, head_packed)
        row = {"head_rows": 1, **compare(passes, args.runs, 1, 2.0 * VOCAB * HIDDEN)}
        results.append(row)
        print(json.dumps(row), flush=True)
    block_linear._kernels = installed

    print(
        json.dumps(
            {
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "threads": threads,
                "layers": args.layers,
                "q8_layers": args.q8_layers,
                "weights_per_layer": weights_per_layer(),
                "simd": block_linear.simd_in_use(),
                "load_average_start": [round(v, 2) for v in load_before],
                "load_average_end": [round(v, 2) for v in os.getloadavg()],
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
