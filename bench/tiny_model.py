"""Models for tests and benchmarks: the real packaged one (converted once per cache) and a tiny
random one.

The tiny model has the real architecture and tokenizer but 2 small layers, so the whole engine
path (prefix cache, batching, streaming, cancellation) runs in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

from engine.config import EngineConfig
from engine.model_cache import default_cache_dir, ensure_converted
from engine.packaged_models import DEFAULT_MODEL, PACKAGED_MODELS


def real_model_dir() -> Path:
    return ensure_converted(PACKAGED_MODELS[DEFAULT_MODEL], default_cache_dir())


def build_tiny_model(target: Path, tokenizer_source: Path, seed: int = 0) -> Path:
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,  # as the packaged Qwen2.5 models
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = [config.eos_token_id, tokenizer.pad_token_id]
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def tiny_engine_config(model_dir: Path, **overrides: object) -> EngineConfig:
    from engine.config import SamplingConfig

    sampling = SamplingConfig(max_new_tokens=24, temperature=0.0, history_tokens=256)
    # Its quantized copy lives beside it, not in the user's model cache.
    settings: dict[str, object] = {"cache_dir": model_dir / "moodbot-cache", **overrides}
    return EngineConfig(model=str(model_dir), sampling=sampling, **settings)  # type: ignore[arg-type]
