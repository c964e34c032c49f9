"""The decoder's weights as the model holds them (bf16), shared with transformers, not copied.

On a CPU without bf16 instructions torch multiplies bf16 matrices with a reference GEMM: fine
for a decoding step (one row per reply, memory-bound), 3.5-7x slower than fp32 for a prompt
chunk or a batch of moods. There, a pass over many tokens converts each weight to fp32 in a
scratch buffer just before its product (about 5 ms for the largest, no resident copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from engine.cpu import cpu_paths
from engine.decoder import DecoderWeights, LayerWeights

# From this many tokens in a pass the fp32 route wins on a CPU without fast bf16 (measured on a
# 1536x8960 weight, 2 threads: 16 tokens break even, 48 are 2x faster, 480 are 4x).
FP32_FROM_TOKENS = 16


class Fp32Scratch:
    """One fp32 buffer, as large as the largest weight, reused by every projection in turn."""

    def __init__(self, elements: int) -> None:
        self._buffer = torch.empty(elements, dtype=torch.float32)

    def holding(self, weight: torch.Tensor) -> torch.Tensor:
        view = self._buffer[: weight.numel()].view(weight.shape)
        view.copy_(weight)
        return view


@dataclass
class _Part:
    weight: torch.Tensor
    bias: torch.Tensor | None


class DenseLinear:
    """bf16 weights side by side (q, k and v; gate and up) read by one input."""

    def __init__(self, parts: Sequence[_Part], scratch: Fp32Scratch | None) -> None:
        self.parts = list(parts)
        # None: this CPU multiplies bf16 fast, every pass stays in bf16.
        self._scratch = scratch

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.numel() // x.shape[-1]
        if self._scratch is not None and tokens >= FP32_FROM_TOKENS:
            wide = x.float()
            outputs = [
                F.linear(
                    wide,
                    self._scratch.holding(part.weight),
                    None if part.bias is None else part.bias.float(),
                )
                for part in self.parts
            ]
            joined = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            return joined.to(x.dtype)
        outputs = [F.linear(x, part.weight, part.bias) for part in self.parts]
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)


def _part(linear: torch.nn.Linear) -> _Part:
    return _Part(linear.weight, linear.bias)


def dense_weights(
    model: PreTrainedModel, fp32_for_many_tokens: bool | None = None
) -> DecoderWeights:
    """The model's own weights; `fp32_for_many_tokens` defaults to what this CPU needs."""
    if fp32_for_many_tokens is None:
        fp32_for_many_tokens = not cpu_paths().fast_bf16
    largest = max(
        module.weight.numel()
        for module in model.model.layers.modules()
        if isinstance(module, torch.nn.Linear)
    )
    scratch = Fp32Scratch(largest) if fp32_for_many_tokens else None
    layers = []
    for layer in model.model.layers:
        attention, mlp = layer.self_attn, layer.mlp
        layers.append(
            LayerWeights(
                input_norm=layer.input_layernorm.weight,
                post_attention_norm=layer.post_attention_layernorm.weight,
                qkv=DenseLinear(
                    [_part(attention.q_proj), _part(attention.k_proj), _part(attention.v_proj)],
                    scratch,
                ),
                o=DenseLinear([_part(attention.o_proj)], scratch),
                gate_up=DenseLinear([_part(mlp.gate_proj), _part(mlp.up_proj)], scratch),
                down=DenseLinear([_part(mlp.down_proj)], scratch),
            )
        )
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()

    def head_rows(ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        rows = head.weight[list(ids)].detach().float()
        bias = head.bias[list(ids)].detach().float() if head.bias is not None else None
        return rows, bias

    # Tied embeddings are one tensor under two names: count each storage once.
    nbytes = sum({t.data_ptr(): t.nbytes for t in model.state_dict().values()}.values())
    return DecoderWeights(
        embed=lambda ids: F.embedding(ids, embed),
        layers=layers,
        final_norm=model.model.norm.weight,
        # The head is read for one position per row: bf16 stays fast there.
        head=DenseLinear([_Part(head.weight, head.bias)], None),
        head_rows=head_rows,
        activation_dtype=embed.dtype,
        nbytes=nbytes,
        description="bf16"
        + (" (fp32 products for passes over many tokens)" if scratch is not None else ""),
    )
