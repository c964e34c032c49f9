"""Load the configured model: a packaged one from the cache, or any Hugging Face dir or id."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from engine.config import EngineConfig
from engine.model_cache import Progress, ProgressFactory, default_cache_dir, ensure_converted
from engine.packaged_models import PACKAGED_MODELS

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: str
    load_seconds: float


def resolve_model_path(config: EngineConfig, progress: ProgressFactory = Progress) -> str:
    """A packaged model's cached bf16 directory, or the configured directory or hub id as is."""
    packaged = PACKAGED_MODELS.get(config.model)
    if packaged is None:
        return (
            str(Path(config.model).expanduser())
            if Path(config.model).expanduser().exists()
            else config.model
        )
    return str(ensure_converted(packaged, config.cache_dir or default_cache_dir(), progress))


def load_model(config: EngineConfig, progress: ProgressFactory = Progress) -> LoadedModel:
    if config.threads:
        torch.set_num_threads(config.threads)
    path = resolve_model_path(config, progress)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16)
    model.eval()
    elapsed = time.perf_counter() - started
    log.info("model %s loaded in %.1f s", config.model, elapsed)
    return LoadedModel(model=model, tokenizer=tokenizer, source=path, load_seconds=elapsed)
