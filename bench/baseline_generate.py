"""The reply path the engine replaced, kept for the benchmark's baseline: bf16 weights,
transformers' `model.generate()` over a statically batched, left-padded set of prompts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from engine.config import SamplingConfig


@torch.inference_mode()
def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[list[int]],
    sampling: SamplingConfig,
    banned: list[list[int]],
    stop_ids: set[int],
) -> list[list[int]]:
    """The new tokens of each prompt (stop and padding tokens removed), generated together."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(stop_ids))
    width = max(len(prompt) for prompt in prompts)
    input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
        attention[row, width - len(prompt) :] = 1
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    sampled = sampling.temperature > 0
    output = model.generate(
        input_ids=input_ids,
        attention_mask=attention,
        max_new_tokens=sampling.max_new_tokens,
        repetition_penalty=sampling.repetition_penalty,
        bad_words_ids=banned or None,
        eos_token_id=sorted(stop_ids),
        pad_token_id=pad,
        do_sample=sampled,
        temperature=sampling.temperature if sampled else None,
        top_p=sampling.top_p if sampled else None,
        top_k=sampling.top_k if sampled else None,
    )
    results = []
    for sequence in output[:, width:].tolist():
        tokens = []
        for token in sequence:
            if token in stop_ids or token == pad:
                break
            tokens.append(token)
        results.append(tokens)
    return results
