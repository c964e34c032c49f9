"""Our own Qwen2 forward pass over weights the engine owns.

transformers' forward wants one cache object for the whole batch and pads every row to the same
length; continuous batching needs rows of different lengths, each with its own position, joining
and leaving between steps. This module runs the same arithmetic (RMSNorm, rotary embeddings,
grouped-query attention through torch's scaled_dot_product_attention, SwiGLU) over caches the
decoding loop owns. Its weights come from engine.dense_weights (the model's bf16 tensors) or
engine.block_weights (4- and 8-bit blocks); it does not need transformers' model object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from transformers import PretrainedConfig
from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding


class UnsupportedModelError(ValueError):
    """The model's architecture is not one this decoder implements."""


class Projection(Protocol):
    """A linear layer (or several side by side that read the same input)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass
class LayerWeights:
    input_norm: torch.Tensor
    post_attention_norm: torch.Tensor
    # q, k and v side by side; gate and up side by side.
    qkv: Projection
    o: Projection
    gate_up: Projection
    down: Projection


@dataclass
class DecoderWeights:
    """Everything the forward pass multiplies with, in the dtype its activations run in."""

    embed: Callable[[torch.Tensor], torch.Tensor]
    layers: Sequence[LayerWeights]
    final_norm: torch.Tensor
    head: Projection
    # fp32 rows of the output head (and their biases) for chosen tokens: label questions read
    # a few logits with more precision than the head's own format gives.
    head_rows: Callable[[Sequence[int]], tuple[torch.Tensor, torch.Tensor | None]]
    activation_dtype: torch.dtype
    # What the weights hold in memory, for `moodbot check` and the benchmarks.
    nbytes: int
    description: str


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
    hidden: int
    intermediate: int
    vocabulary: int
    # The longest sequence the model was trained for.
    context: int


def model_shape(config: PretrainedConfig) -> Shape:
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
        hidden=config.hidden_size,
        intermediate=config.intermediate_size,
        vocabulary=config.vocab_size,
        context=config.max_position_embeddings,
    )


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # As transformers does it: the statistics in fp32, the scaling back in the weights' dtype.
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


# Keys and values are kept in bf16 whatever the activations run in: half the memory per cached
# token, and so twice the conversations in the same cache budget.
KV_DTYPE = torch.bfloat16


class Decoder:
    """Runs the decoder layers and the output head over a `KVStore`."""

    def __init__(self, config: PretrainedConfig, weights: DecoderWeights) -> None:
        self.shape = model_shape(config)
        self.weights = weights
        self.layers = list(weights.layers)
        self.dtype = weights.activation_dtype
        self.kv_dtype = KV_DTYPE
        self._rotary = Qwen2RotaryEmbedding(config=config)
        shape = self.shape
        self._split = (
            shape.heads * shape.head_dim,
            shape.kv_heads * shape.head_dim,
            shape.kv_heads * shape.head_dim,
        )

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
        x = self.weights.embed(ids).to(self.dtype)
        cos, sin = self._rotary(x, positions)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        for index, layer in enumerate(self.layers):
            normed = _rms_norm(x, layer.input_norm, shape.eps)
            q, k, v = layer.qkv(normed).to(self.dtype).split(self._split, dim=-1)
            q = q.view(rows, tokens, shape.heads, shape.head_dim).transpose(1, 2)
            k = k.reshape(rows, tokens, shape.kv_heads, shape.head_dim).transpose(1, 2)
            v = v.reshape(rows, tokens, shape.kv_heads, shape.head_dim).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            keys, values = store.extend(index, k, v)
            attended = F.scaled_dot_product_attention(
                q,
                keys.to(self.dtype),
                values.to(self.dtype),
                attn_mask=mask,
                enable_gqa=shape.kv_heads != shape.heads,
            )
            x = x + layer.o(attended.transpose(1, 2).reshape(rows, tokens, -1)).to(self.dtype)
            normed = _rms_norm(x, layer.post_attention_norm, shape.eps)
            gate, up = layer.gate_up(normed).to(self.dtype).chunk(2, dim=-1)
            x = x + layer.down(F.silu(gate) * up).to(self.dtype)
        return _rms_norm(x, self.weights.final_norm, shape.eps)

    @torch.inference_mode()
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 next-token logits for hidden states [rows, width]."""
        return self.weights.head(hidden).float()

    def label_logits(self, hidden: torch.Tensor, token_ids: Sequence[int]) -> torch.Tensor:
        """fp32 logits of a few tokens only, from fp32 rows of the head [rows, len(token_ids)]."""
        rows, bias = self.weights.head_rows(token_ids)
        logits = hidden.float() @ rows.T
        return logits if bias is None else logits + bias
