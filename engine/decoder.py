"""Our own Qwen2 forward pass over the loaded transformers weights.

transformers' forward wants one cache object for the whole batch and pads every row to the same
length; continuous batching needs rows of different lengths, each with its own position, joining
and leaving between steps. This module runs the same arithmetic (RMSNorm, rotary embeddings,
grouped-query attention through torch's scaled_dot_product_attention, SwiGLU) over caches the
decoding loop owns, with each projection a `Projection` that may be bf16 or quantized.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel


class UnsupportedModelError(ValueError):
    """The model's architecture is not one this decoder implements."""


class Projection(Protocol):
    """A linear layer: bf16 weights, or quantized ones that pick a kernel by the token count."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class DenseProjection:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight = weight
        self.bias = bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


@dataclass
class LayerWeights:
    input_norm: torch.Tensor
    post_attention_norm: torch.Tensor
    q: Projection
    k: Projection
    v: Projection
    o: Projection
    gate: Projection
    up: Projection
    down: Projection


class KVStore(Protocol):
    """Where a forward pass keeps the keys and values of the tokens it has seen."""

    def extend(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this pass's new keys/values for `layer`; return all of them to attend over."""


@dataclass(frozen=True)
class Shape:
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    eps: float


def model_shape(model: PreTrainedModel) -> Shape:
    config = model.config
    if getattr(config, "model_type", None) != "qwen2":
        raise UnsupportedModelError(
            f"the local decoder runs Qwen2 models; {config.model_type!r} is not one "
            '(set [model] backend = "openai" to serve it from another server)'
        )
    if any(kind != "full_attention" for kind in getattr(config, "layer_types", None) or []):
        raise UnsupportedModelError(
            "this model uses sliding-window attention, which the local decoder does not "
            'implement (set [model] backend = "openai" to serve it from another server)'
        )
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return Shape(
        layers=config.num_hidden_layers,
        heads=config.num_attention_heads,
        kv_heads=config.num_key_value_heads,
        head_dim=head_dim,
        eps=config.rms_norm_eps,
    )


def dense_layers(model: PreTrainedModel) -> list[LayerWeights]:
    """The model's own bf16 weights, shared, not copied."""
    layers = []
    for layer in model.model.layers:
        attention, mlp = layer.self_attn, layer.mlp
        layers.append(
            LayerWeights(
                input_norm=layer.input_layernorm.weight,
                post_attention_norm=layer.post_attention_layernorm.weight,
                q=DenseProjection(attention.q_proj.weight, attention.q_proj.bias),
                k=DenseProjection(attention.k_proj.weight, attention.k_proj.bias),
                v=DenseProjection(attention.v_proj.weight, attention.v_proj.bias),
                o=DenseProjection(attention.o_proj.weight, attention.o_proj.bias),
                gate=DenseProjection(mlp.gate_proj.weight, None),
                up=DenseProjection(mlp.up_proj.weight, None),
                down=DenseProjection(mlp.down_proj.weight, None),
            )
        )
    return layers


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # As transformers does it: the statistics in fp32, the scaling back in the weights' dtype.
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Decoder:
    """Runs the decoder layers and the output head over a `KVStore`."""

    def __init__(
        self,
        model: PreTrainedModel,
        layers: Sequence[LayerWeights],
        head: Projection,
    ) -> None:
        self.shape = model_shape(model)
        self._embed = model.model.embed_tokens.weight
        self._final_norm = model.model.norm.weight
        self._rotary = model.model.rotary_emb
        self.layers = list(layers)
        self.head = head
        self.dtype = self._embed.dtype

    @torch.inference_mode()
    def hidden(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        store: KVStore,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Final hidden states for `ids` [rows, tokens] at `positions` [rows, tokens].

        `mask` [rows, 1, tokens, seen] is True where a query may attend to a stored key; `seen`
        counts the keys the store returns (earlier tokens and these)."""
        shape = self.shape
        rows, tokens = ids.shape
        x = F.embedding(ids, self._embed)
        cos, sin = self._rotary(x, positions)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        for index, layer in enumerate(self.layers):
            normed = _rms_norm(x, layer.input_norm, shape.eps)
            q = layer.q(normed).view(rows, tokens, shape.heads, shape.head_dim).transpose(1, 2)
            k = layer.k(normed).view(rows, tokens, shape.kv_heads, shape.head_dim).transpose(1, 2)
            v = layer.v(normed).view(rows, tokens, shape.kv_heads, shape.head_dim).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            keys, values = store.extend(index, k, v)
            attended = F.scaled_dot_product_attention(
                q, keys, values, attn_mask=mask, enable_gqa=shape.kv_heads != shape.heads
            )
            x = x + layer.o(attended.transpose(1, 2).reshape(rows, tokens, -1))
            normed = _rms_norm(x, layer.post_attention_norm, shape.eps)
            x = x + layer.down(F.silu(layer.gate(normed)) * layer.up(normed))
        return _rms_norm(x, self._final_norm, shape.eps)

    @torch.inference_mode()
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 next-token logits for hidden states [rows, width]."""
        return self.head(hidden).float()
