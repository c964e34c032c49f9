"""The decoding loop driven step by step on the tiny model, without the worker thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from bench.tiny_model import tiny_engine_config
from engine.config import SamplingConfig, WeightType
from engine.decoder import Decoder
from engine.decoding import DecodingLoop, GenerationJob, GenerationResult
from engine.loading import load_model
from engine.local_backend import build_decoder
from engine.prefix_cache import PrefixCache
from engine.sampling import RowSampler, banned_token_ids, stop_token_ids


@dataclass
class Tiny:
    # transformers' model with the same weights (bf16), the reference for the decoder.
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    decoder: Decoder
    stop_ids: set[int]
    banned: list[list[int]]


def load_tiny(model_dir: Path, dtype: WeightType) -> Tiny:
    config = replace(tiny_engine_config(model_dir), dtype=dtype)
    loaded = load_model(config)
    reference = loaded.model or AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16
    )
    return Tiny(
        reference.eval(),
        loaded.tokenizer,
        build_decoder(loaded),
        stop_token_ids(loaded.generation, loaded.tokenizer),
        banned_token_ids(loaded.tokenizer),
    )


def chat_ids(tiny: Tiny, text: str) -> list[int]:
    rendered = tiny.tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
    )
    return list(rendered["input_ids"])


@dataclass
class Outcome:
    """What one job reported, in order."""

    deltas: list[str] = field(default_factory=list)
    result: GenerationResult | None = None
    error: BaseException | None = None
    cancel: bool = False


def job(
    tiny: Tiny,
    prompt: list[int],
    sampling: SamplingConfig,
    outcome: Outcome,
    conversation: str | None = None,
    on_done: Callable[[GenerationResult], None] | None = None,
) -> GenerationJob:
    def done(result: GenerationResult) -> None:
        outcome.result = result
        if on_done is not None:
            on_done(result)

    def failed(exc: BaseException) -> None:
        outcome.error = exc

    return GenerationJob(
        prompt_ids=prompt,
        sampler=RowSampler(sampling, tiny.banned, tiny.stop_ids),
        max_new_tokens=sampling.max_new_tokens,
        on_delta=outcome.deltas.append,
        is_cancelled=lambda: outcome.cancel,
        on_done=done,
        on_error=failed,
        conversation=conversation,
    )


def loop_for(tiny: Tiny, prefixes: PrefixCache | None = None, max_batch: int = 8) -> DecodingLoop:
    return DecodingLoop(
        tiny.decoder,
        tiny.tokenizer,
        prefixes if prefixes is not None else PrefixCache(2**30),
        tiny.stop_ids,
        max_batch,
    )


def run_until_idle(loop: DecodingLoop, limit: int = 10_000) -> int:
    steps = 0
    while loop.busy:
        loop.step()
        steps += 1
        assert steps < limit, "the decoding loop never finished"
    return steps


@torch.inference_mode()
def generate_reference(tiny: Tiny, prompt: list[int], sampling: SamplingConfig) -> str:
    """What `model.generate()` writes for one prompt, as the engine called it before."""
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    sampled = sampling.temperature > 0
    output = tiny.model.generate(
        input_ids=torch.tensor([prompt]),
        attention_mask=torch.ones((1, len(prompt)), dtype=torch.long),
        max_new_tokens=sampling.max_new_tokens,
        repetition_penalty=sampling.repetition_penalty,
        bad_words_ids=tiny.banned,
        eos_token_id=sorted(tiny.stop_ids),
        pad_token_id=tiny.tokenizer.pad_token_id,
        do_sample=sampled,
        temperature=sampling.temperature if sampled else None,
        top_p=sampling.top_p if sampled else None,
        top_k=sampling.top_k if sampled else None,
    )
    return tiny.tokenizer.decode(output[0, len(prompt) :], skip_special_tokens=True)
