"""The decoder's weights in 4- and 8-bit blocks: built once into the cache, loaded in seconds.

Layers are q4 and the output head and embedding q8, except where a GGUF file already holds
them: its Q4_K tensors are kept exactly as q4, its other types become q8 (so the packaged
Q4_K_M model loses nothing it had). A Hugging Face model's dense weights are quantized here.
The file is keyed by the source weights' content, so a changed model is converted again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine.block_linear import BlockLinear, BlockMatrix
from engine.block_quant import (
    BlockKind,
    four_bit_kind,
    gguf_dense,
    gguf_tensor_to_blocks,
    quantize,
)
from engine.decoder import DecoderWeights, LayerWeights, Shape
from engine.model_cache import ProgressFactory

log = logging.getLogger(__name__)

# Bumped whenever what the file holds changes: an older file is then built again.
FORMAT_VERSION = "4"
_PROJECTIONS = ("q", "k", "v", "o", "gate", "up", "down")

Tensors = dict[str, torch.Tensor]


def block_weights_file(cache_dir: Path, source_key: str, name: str) -> Path:
    digest = hashlib.sha256(f"{source_key}\n{FORMAT_VERSION}".encode()).hexdigest()[:16]
    return cache_dir / "quantized" / f"{name}-{digest}-blocks.safetensors"


# --- building -------------------------------------------------------------------------------

_GGUF_NAMES = {
    "attn_norm.weight": "input_norm",
    "ffn_norm.weight": "post_attention_norm",
    "attn_q.weight": "q",
    "attn_k.weight": "k",
    "attn_v.weight": "v",
    "attn_output.weight": "o",
    "ffn_gate.weight": "gate",
    "ffn_up.weight": "up",
    "ffn_down.weight": "down",
    "attn_q.bias": "q.bias",
    "attn_k.bias": "k.bias",
    "attn_v.bias": "v.bias",
}
_GGUF_LAYER = re.compile(r"^blk\.(\d+)\.(.+)$")


def from_gguf(
    path: Path, shape: Shape, progress: ProgressFactory
) -> Iterator[tuple[str, torch.Tensor]]:
    """The block tensors of a GGUF file, one converted tensor at a time."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    bar = progress(len(tensors), "converting the model to 4-bit blocks")
    try:
        for name, tensor in tensors.items():
            ours = _gguf_name(name)
            if ours is None:
                continue
            raw = np.asarray(tensor.data)
            kind = int(tensor.tensor_type)
            if len(tensor.shape) == 1:
                # Norms and biases stay dense.
                yield ours, torch.from_numpy(gguf_dense(raw, kind).copy()).float()
            else:
                # ggml lists dimensions innermost first: shape[0] is the input size.
                yield ours, gguf_tensor_to_blocks(raw, kind, int(tensor.shape[0]))
            bar.advance(1)
        if "output.weight" not in tensors:
            # Tied embeddings: the head multiplies with the embedding table.
            embedding = tensors["token_embd.weight"]
            yield (
                "head",
                gguf_tensor_to_blocks(
                    np.asarray(embedding.data), int(embedding.tensor_type), shape.hidden
                ),
            )
    finally:
        bar.close()


def _gguf_name(name: str) -> str | None:
    if name == "token_embd.weight":
        return "embed"
    if name == "output.weight":
        return "head"
    if name == "output_norm.weight":
        return "final_norm"
    layer = _GGUF_LAYER.match(name)
    if layer is None or layer.group(2) not in _GGUF_NAMES:
        return None
    return f"layers.{layer.group(1)}.{_GGUF_NAMES[layer.group(2)]}"


_HF_LAYER = {
    "input_layernorm.weight": "input_norm",
    "post_attention_layernorm.weight": "post_attention_norm",
    "self_attn.q_proj.weight": "q",
    "self_attn.k_proj.weight": "k",
    "self_attn.v_proj.weight": "v",
    "self_attn.o_proj.weight": "o",
    "mlp.gate_proj.weight": "gate",
    "mlp.up_proj.weight": "up",
    "mlp.down_proj.weight": "down",
    "self_attn.q_proj.bias": "q.bias",
    "self_attn.k_proj.bias": "k.bias",
    "self_attn.v_proj.bias": "v.bias",
}
_HF_LAYER_NAME = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def from_dense(
    directory: Path, shape: Shape, progress: ProgressFactory
) -> Iterator[tuple[str, torch.Tensor]]:
    """The block tensors of a Hugging Face model directory's safetensors, streamed one tensor
    at a time: layers in 4 bits (q4k, or q4 where the input size is not a multiple of 256), the
    embedding and the head as q8."""
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{directory} holds no .safetensors weights")
    names: dict[str, Path] = {}
    for file in files:
        with safe_open(file, "pt") as weights:
            names.update({name: file for name in weights.keys()})  # noqa: SIM118
    bar = progress(len(names), "quantizing the model to 4-bit blocks")
    try:
        for name, file in sorted(names.items()):
            ours, kind = _dense_target(name)
            if ours is None:
                continue
            with safe_open(file, "pt") as weights:
                tensor = weights.get_tensor(name)
            if kind == "q4":
                kind = four_bit_kind(tensor.shape[-1])
            yield ours, tensor.float() if kind is None else quantize(tensor, kind)
            bar.advance(1)
        if "lm_head.weight" not in names:
            with safe_open(names["model.embed_tokens.weight"], "pt") as weights:
                yield "head", quantize(weights.get_tensor("model.embed_tokens.weight"), "q8")
    finally:
        bar.close()


def _dense_target(name: str) -> tuple[str | None, BlockKind | None]:
    """Our name for a Hugging Face tensor and its block kind (None: kept dense in fp32)."""
    if name == "model.embed_tokens.weight":
        return "embed", "q8"
    if name == "lm_head.weight":
        return "head", "q8"
    if name == "model.norm.weight":
        return "final_norm", None
    layer = _HF_LAYER_NAME.match(name)
    if layer is None or layer.group(2) not in _HF_LAYER:
        return None, None
    ours = _HF_LAYER[layer.group(2)]
    kind: BlockKind | None = "q4" if ours in _PROJECTIONS else None
    return f"layers.{layer.group(1)}.{ours}", kind


def build(path: Path, tensors: Iterator[tuple[str, torch.Tensor]], source_key: str) -> Tensors:
    """Write the file atomically (a crash leaves no half file under the final name)."""
    built = dict(tensors)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    save_file(built, partial, metadata={"format": FORMAT_VERSION, "source": source_key[:200]})
    partial.replace(path)
    log.info("model weights converted to blocks in %s", path)
    return built


def load(path: Path) -> Tensors:
    with safe_open(path, "pt") as weights:
        if weights.metadata().get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: written by another version of moodbot")
        return {name: weights.get_tensor(name) for name in weights.keys()}  # noqa: SIM118


def load_or_build(
    path: Path, source_key: str, build_tensors: Callable[[], Iterator[tuple[str, torch.Tensor]]]
) -> Tensors:
    if path.is_file():
        try:
            return load(path)
        except (ValueError, OSError) as exc:
            log.warning("rebuilding the block weights: %s", exc)
    log.info("converting the model to 4-bit blocks into %s (first start only)", path)
    built = build(path, build_tensors(), source_key)
    _remove_stale(path)
    return built


def _remove_stale(path: Path) -> None:
    """Conversions of the same model by an older moodbot or from older weights: a model's
    cache keeps only the file in use (they are a gigabyte each)."""
    name = path.name.rsplit("-", 2)[0]
    stale = [*path.parent.glob(f"{name}-*-blocks.safetensors"), *path.parent.glob("*-int4g32*")]
    for old in stale:
        if old != path:
            log.info("removing %s (an older conversion)", old)
            old.unlink(missing_ok=True)


# --- loading --------------------------------------------------------------------------------


def block_weights(tensors: Tensors, shape: Shape) -> DecoderWeights:
    """The decoder's weights over the block tensors (no copies)."""

    def matrix(name: str) -> BlockMatrix:
        return BlockMatrix(tensors[name].contiguous())

    def bias(*names: str) -> torch.Tensor | None:
        present = [tensors.get(name) for name in names]
        if all(item is None for item in present):
            return None
        sizes = [matrix(name.removesuffix(".bias")).out_features for name in names]
        return torch.cat(
            [
                torch.zeros(size) if item is None else item.float()
                for item, size in zip(present, sizes, strict=True)
            ]
        )

    layers = []
    for index in range(shape.layers):
        prefix = f"layers.{index}."
        layers.append(
            LayerWeights(
                input_norm=tensors[prefix + "input_norm"].float(),
                post_attention_norm=tensors[prefix + "post_attention_norm"].float(),
                qkv=BlockLinear(
                    [matrix(prefix + name) for name in ("q", "k", "v")],
                    bias(prefix + "q.bias", prefix + "k.bias", prefix + "v.bias"),
                ),
                o=BlockLinear([matrix(prefix + "o")]),
                gate_up=BlockLinear([matrix(prefix + "gate"), matrix(prefix + "up")]),
                down=BlockLinear([matrix(prefix + "down")]),
            )
        )
    embed = matrix("embed")
    head = matrix("head")

    def head_rows(ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        return head.rows(torch.tensor(list(ids))), None

    counts = {"q4k": 0, "q4": 0, "q8": 0}
    for layer in layers:
        for projection in (layer.qkv, layer.o, layer.gate_up, layer.down):
            for part in projection.parts:  # type: ignore[attr-defined]
                counts[part.kind] += 1
    return DecoderWeights(
        embed=embed.rows,
        layers=layers,
        final_norm=tensors["final_norm"].float(),
        head=BlockLinear([head]),
        head_rows=head_rows,
        activation_dtype=torch.float32,
        nbytes=sum(tensor.nbytes for tensor in tensors.values()),
        description=(
            "blocks: "
            + ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
            + f" layer matrices, {head.kind} head, {embed.kind} embedding"
        ),
    )
