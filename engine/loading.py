"""Load the configured model: its tokenizer and configuration, and the decoder's weights.

`dtype = "int4"`: 4-bit blocks built once into the cache (from the packaged GGUF, or from a
Hugging Face model's weights) and multiplied by moodbot's own kernels; transformers' model is
never loaded. `dtype = "bf16"`: the model's bf16 weights through transformers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from engine.block_linear import kernels_available, set_threads
from engine.block_weights import (
    block_weights,
    block_weights_file,
    from_dense,
    from_gguf,
    load_or_build,
)
from engine.config import EngineConfig, WeightType
from engine.decoder import DecoderWeights, model_shape
from engine.dense_weights import dense_weights
from engine.model_cache import (
    Progress,
    ProgressFactory,
    default_cache_dir,
    ensure_converted,
    ensure_gguf,
    ensure_prepared,
)
from engine.packaged_models import PACKAGED_MODELS
from engine.weights_digest import weights_digest

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    config: PretrainedConfig
    tokenizer: PreTrainedTokenizerBase
    generation: GenerationConfig
    weights: DecoderWeights
    # The directory the tokenizer and configuration came from.
    source: str
    dtype: WeightType
    load_seconds: float
    # transformers' model, when its bf16 weights are the decoder's (dtype = "bf16").
    model: PreTrainedModel | None = None


def effective_dtype(config: EngineConfig) -> WeightType:
    """The weights the engine will use: int4 needs the compiled kernels."""
    if config.dtype == "int4" and not kernels_available():
        log.warning(
            "moodbot's compiled kernels are missing: decoding with bf16 weights instead of "
            '[model] dtype = "int4" (reinstall moodbot where a C compiler is available)'
        )
        return "bf16"
    return config.dtype


def local_model_dir(model: str) -> Path:
    """A configured model directory, or a hub id's files (from the Hugging Face cache)."""
    path = Path(model).expanduser()
    if path.exists():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(model))


def resolve_model_path(config: EngineConfig, progress: ProgressFactory = Progress) -> str:
    """A packaged model's cached bf16 directory, or the configured directory or hub id as is."""
    packaged = PACKAGED_MODELS.get(config.model)
    if packaged is None:
        path = Path(config.model).expanduser()
        return str(path) if path.exists() else config.model
    return str(ensure_converted(packaged, config.cache_dir or default_cache_dir(), progress))


def load_model(config: EngineConfig, progress: ProgressFactory = Progress) -> LoadedModel:
    if config.threads:
        torch.set_num_threads(config.threads)
    set_threads(torch.get_num_threads())
    dtype = effective_dtype(config)
    started = time.perf_counter()
    loaded = _load_bf16(config, progress) if dtype == "bf16" else _load_blocks(config, progress)
    loaded.load_seconds = time.perf_counter() - started
    log.info("model %s (%s) loaded in %.1f s", config.model, dtype, loaded.load_seconds)
    return loaded


def _load_bf16(config: EngineConfig, progress: ProgressFactory) -> LoadedModel:
    path = resolve_model_path(config, progress)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16)
    model.eval()
    return LoadedModel(
        config=model.config,
        tokenizer=tokenizer,
        generation=model.generation_config,
        weights=dense_weights(model),
        source=path,
        dtype="bf16",
        load_seconds=0.0,
        model=model,
    )


def _load_blocks(config: EngineConfig, progress: ProgressFactory) -> LoadedModel:
    cache_dir = config.cache_dir or default_cache_dir()
    packaged = PACKAGED_MODELS.get(config.model)
    if packaged is not None:
        directory = ensure_prepared(packaged, cache_dir, progress)
        source_key, name = f"gguf:{packaged.sha256}", packaged.name
    else:
        directory = local_model_dir(config.model)
        source_key = "safetensors:" + weights_digest(
            directory, cache_dir / "quantized" / "digests.json"
        )
        name = directory.name or "model"
    model_config = AutoConfig.from_pretrained(directory)
    shape = model_shape(model_config)
    tensors: Callable[[], Iterator[tuple[str, torch.Tensor]]]
    if packaged is not None:
        tensors = partial(from_gguf, ensure_gguf(packaged, cache_dir, progress), shape, progress)
    else:
        tensors = partial(from_dense, directory, shape, progress)
    path = block_weights_file(cache_dir, source_key, name)
    weights = block_weights(load_or_build(path, source_key, tensors), shape)
    return LoadedModel(
        config=model_config,
        tokenizer=AutoTokenizer.from_pretrained(directory),
        generation=_generation_config(directory, model_config),
        weights=weights,
        source=str(directory),
        dtype="int4",
        load_seconds=0.0,
    )


def _generation_config(directory: Path, config: PretrainedConfig) -> GenerationConfig:
    try:
        return GenerationConfig.from_pretrained(directory)
    except OSError:
        return GenerationConfig.from_model_config(config)
