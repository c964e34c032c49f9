"""Batched, streamed, cancellable sampling from the local model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from engine.config import SamplingConfig
from engine.reply_text import LABEL_WORDS


@dataclass
class GenerationJob:
    prompt_ids: list[int]
    # Called on the worker thread with each new piece of text.
    on_delta: Callable[[str], None]
    is_cancelled: Callable[[], bool]


@dataclass(frozen=True)
class GenerationResult:
    text: str
    tokens: int
    hit_limit: bool
    cancelled: bool
    # log P(first token = the watched token), when generate_batch was given one to watch.
    watched_logprob: float | None = None


class _RowDecoder:
    """Decodes one row's tokens incrementally, holding back half-finished UTF-8 characters."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, job: GenerationJob) -> None:
        self._tokenizer = tokenizer
        self._job = job
        self.ids: list[int] = []
        self.emitted = ""
        self.done = False

    def push(self, token: int) -> None:
        self.ids.append(token)
        text = self._tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return
        if text.startswith(self.emitted) and len(text) > len(self.emitted):
            delta = text[len(self.emitted) :]
            self.emitted = text
            self._job.on_delta(delta)

    @property
    def text(self) -> str:
        return self._tokenizer.decode(self.ids, skip_special_tokens=True)


class _BatchStreamer(BaseStreamer):
    def __init__(
        self, rows: list[_RowDecoder], stop_ids: set[int], between_steps: Callable[[], None]
    ) -> None:
        self._rows = rows
        self._stop_ids = stop_ids
        self._between_steps = between_steps
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True  # generate() first echoes the prompt
            return
        for row, token in zip(
            self._rows, value.reshape(len(self._rows), -1)[:, -1].tolist(), strict=True
        ):
            if row.done:
                continue
            if token in self._stop_ids:
                row.done = True
                continue
            row.push(token)
        self._between_steps()

    def end(self) -> None:
        for row in self._rows:
            row.done = True


class _StopCancelled(StoppingCriteria):
    """Finishes exactly the rows whose request was cancelled; the others keep generating."""

    def __init__(self, jobs: Sequence[GenerationJob]) -> None:
        self._jobs = jobs

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **_: object
    ) -> torch.BoolTensor:
        flags = [job.is_cancelled() for job in self._jobs]
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class _FirstStepWatch(LogitsProcessor):
    """Records each row's log-probability of one token at the first decoding step (after the
    repetition penalty and bans, before temperature: what greedy decoding chooses from)."""

    def __init__(self, token: int) -> None:
        self._token = token
        self.logprobs: list[float] | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.logprobs is None:
            self.logprobs = torch.log_softmax(scores.float(), dim=-1)[:, self._token].tolist()
        return scores


def banned_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Single tokens that spell a label word, in the casings a reply could use."""
    banned: set[int] = set()
    for word in LABEL_WORDS:
        for variant in {word, word.capitalize(), " " + word, " " + word.capitalize()}:
            ids = tokenizer.encode(variant, add_special_tokens=False)
            if len(ids) == 1:
                banned.add(ids[0])
    return [[token] for token in sorted(banned)]


def stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    configured = model.generation_config.eos_token_id
    ids = set(
        configured
        if isinstance(configured, list)
        else [configured]
        if configured is not None
        else []
    )
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


@torch.inference_mode()
def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    jobs: Sequence[GenerationJob],
    sampling: SamplingConfig,
    banned: list[list[int]],
    stop_ids: set[int],
    between_steps: Callable[[], None],
    watch_token: int | None = None,
) -> list[GenerationResult]:
    """Generate replies for all jobs together (left-padded), streaming each row's deltas;
    with `watch_token`, each result tells how likely the reply was to open with it."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(stop_ids))
    width = max(len(job.prompt_ids) for job in jobs)
    input_ids = torch.full((len(jobs), width), pad, dtype=torch.long)
    attention = torch.zeros((len(jobs), width), dtype=torch.long)
    for row, job in enumerate(jobs):
        input_ids[row, width - len(job.prompt_ids) :] = torch.tensor(job.prompt_ids)
        attention[row, width - len(job.prompt_ids) :] = 1
    rows = [_RowDecoder(tokenizer, job) for job in jobs]
    do_sample = sampling.temperature > 0
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    sampling_args: dict[str, object] = (
        {
            "do_sample": True,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
        }
        if do_sample
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    )
    watch = _FirstStepWatch(watch_token) if watch_token is not None else None
    output = model.generate(
        input_ids=input_ids,
        attention_mask=attention,
        max_new_tokens=sampling.max_new_tokens,
        repetition_penalty=sampling.repetition_penalty,
        bad_words_ids=banned or None,
        eos_token_id=sorted(stop_ids),
        pad_token_id=pad,
        streamer=_BatchStreamer(rows, stop_ids, between_steps),
        stopping_criteria=StoppingCriteriaList([_StopCancelled(jobs)]),
        logits_processor=LogitsProcessorList([watch] if watch else []),
        **sampling_args,
    )
    results = []
    watched = watch.logprobs if watch and watch.logprobs else [None] * len(jobs)
    for row, job, sequence, logprob in zip(
        rows, jobs, output[:, width:].tolist(), watched, strict=True
    ):
        produced = [token for token in sequence if token != pad]
        ended = any(token in stop_ids for token in sequence)
        cancelled = job.is_cancelled()
        results.append(
            GenerationResult(
                text=row.text,
                tokens=len(row.ids),
                hit_limit=not ended and not cancelled and len(produced) >= sampling.max_new_tokens,
                cancelled=cancelled,
                watched_logprob=logprob,
            )
        )
    return results
