"""Continuous batching: replies join the running batch between steps and leave it when done.

Each `step()` reads one chunk of a waiting prompt (so rows already decoding are never frozen
for a whole long prompt) and then decodes one token for every running row. A row ends on its
own stop token, length limit or cancellation and is resolved at once, while the others go on.
Prompts start from the longest cached prefix, and a finished reply leaves its prompt + reply
cached for its conversation's next turn.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from engine.decoder import Decoder
from engine.kv_cache import BatchCache, LayerKV, RowCache, causal_mask
from engine.prefix_cache import PrefixCache
from engine.sampling import RowSampler

log = logging.getLogger(__name__)

# While other replies are decoding, a step reads about this long of a newcomer's prompt before
# their next tokens: newcomers start soon, and running rows are never frozen for a whole prompt.
CHUNK_SECONDS = 0.4
# The most prompt tokens one step reads (when nothing else is decoding, a whole short prompt).
MAX_CHUNK = 256
MIN_CHUNK = 8


@dataclass
class LoopStats:
    """Where the loop's time went: reading prompts and decoding steps."""

    prompt_tokens: int = 0
    prompt_seconds: float = 0.0
    decode_steps: int = 0
    decode_rows: int = 0
    decode_seconds: float = 0.0

    @property
    def prompt_tokens_per_s(self) -> float | None:
        return self.prompt_tokens / self.prompt_seconds if self.prompt_seconds else None

    def as_dict(self) -> dict[str, float | int | None]:
        rate = self.prompt_tokens_per_s
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_seconds": round(self.prompt_seconds, 3),
            "prompt_ms_per_token": round(1000 / rate, 2) if rate else None,
            "decode_steps": self.decode_steps,
            "decode_ms_per_step": (
                round(1000 * self.decode_seconds / self.decode_steps, 2)
                if self.decode_steps
                else None
            ),
            "mean_rows_per_step": (
                round(self.decode_rows / self.decode_steps, 2) if self.decode_steps else None
            ),
        }


@dataclass(frozen=True)
class GenerationResult:
    text: str
    tokens: int
    hit_limit: bool
    cancelled: bool
    # The job's watch_token as the first token, when it asked (None before the prompt was read).
    watched_logprob: float | None = None


@dataclass
class GenerationJob:
    prompt_ids: list[int]
    sampler: RowSampler
    max_new_tokens: int
    # Called on the worker thread with each new piece of text.
    on_delta: Callable[[str], None]
    is_cancelled: Callable[[], bool]
    # May return a job to run next in this job's place (a second attempt).
    on_done: Callable[[GenerationResult], GenerationJob | None]
    on_error: Callable[[BaseException], None]
    # Under this key the finished prompt + reply stay cached for the conversation's next turn.
    conversation: str | None = None
    # (key, length): the prompt's first `length` tokens are shared by many prompts; cached
    # (pinned) under `key` the first time they are read.
    shared_prefix: tuple[str, int] | None = None
    # The log-probability of this token as the reply's first one is reported in the result.
    watch_token: int | None = None


class _TextStream:
    """Decodes one row's tokens incrementally, holding back half-finished UTF-8 characters."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, on_delta: Callable[[str], None]):
        self._tokenizer = tokenizer
        self._on_delta = on_delta
        self.ids: list[int] = []
        self._emitted = ""

    def push(self, token: int) -> None:
        self.ids.append(token)
        text = self.text
        if text.endswith("\ufffd"):
            return
        if text.startswith(self._emitted) and len(text) > len(self._emitted):
            delta = text[len(self._emitted) :]
            self._emitted = text
            self._on_delta(delta)

    @property
    def text(self) -> str:
        return self._tokenizer.decode(self.ids, skip_special_tokens=True)


@dataclass
class _Row:
    job: GenerationJob
    stream: _TextStream
    cache: RowCache | None = None
    read: int = 0
    # The sampled token not yet fed through the model.
    pending: int = -1
    seen: list[int] = field(default_factory=list)
    watched_logprob: float | None = None


class DecodingLoop:
    """Owned by the worker thread; `admit` and `step` are called from it only."""

    def __init__(
        self,
        decoder: Decoder,
        tokenizer: PreTrainedTokenizerBase,
        prefixes: PrefixCache,
        stop_ids: set[int],
        max_batch: int,
    ) -> None:
        self._decoder = decoder
        self._tokenizer = tokenizer
        self._prefixes = prefixes
        self._stop_ids = stop_ids
        self._max_batch = max(1, max_batch)
        self._waiting: deque[_Row] = deque()
        self._reading: _Row | None = None
        self._running: list[_Row] = []
        self._batch = BatchCache(decoder.shape, decoder.kv_dtype)
        self.stats = LoopStats()

    @property
    def busy(self) -> bool:
        return bool(self._waiting or self._reading or self._running)

    @property
    def running(self) -> int:
        return len(self._running)

    def admit(self, job: GenerationJob) -> None:
        self._waiting.append(_Row(job, _TextStream(self._tokenizer, job.on_delta)))

    def forget(self, conversation: str) -> None:
        """Drop the conversation's cache, and keep a reply in progress from storing a new one."""
        for row in [*self._waiting, *([self._reading] if self._reading else []), *self._running]:
            if row.job.conversation == conversation:
                row.job.conversation = None
        self._prefixes.forget(conversation)

    def step(self) -> None:
        """Read one prompt chunk, then decode one token for each running row."""
        try:
            self._drop_cancelled()
            self._read_chunk()
            if self._running:
                self._decode()
        except Exception as exc:
            log.exception("decoding failed")
            self._fail_all(exc)

    def _fail_all(self, exc: BaseException) -> None:
        rows = [*self._waiting, *([self._reading] if self._reading else []), *self._running]
        self._waiting.clear()
        self._reading = None
        self._running = []
        self._batch = BatchCache(self._decoder.shape, self._decoder.kv_dtype)
        for row in rows:
            _report(row.job, exc)

    def _drop_cancelled(self) -> None:
        for row in [row for row in self._waiting if row.job.is_cancelled()]:
            self._waiting.remove(row)
            self._resolve(row, cancelled=True)
        if self._reading is not None and self._reading.job.is_cancelled():
            row, self._reading = self._reading, None
            self._resolve(row, cancelled=True)
        for slot in reversed(range(len(self._running))):
            if self._running[slot].job.is_cancelled():
                self._leave(slot, cancelled=True)

    def _read_chunk(self) -> None:
        if self._reading is None:
            if not self._waiting or len(self._running) >= self._max_batch:
                return
            self._reading = self._start(self._waiting.popleft())
        row = self._reading
        assert row.cache is not None
        ids = row.job.prompt_ids
        end = min(row.read + self._chunk_tokens(), len(ids))
        shared = row.job.shared_prefix
        if shared is not None and row.read < shared[1] and not self._prefixes.has(shared[0]):
            end = min(end, shared[1])
        chunk = torch.tensor([ids[row.read : end]], dtype=torch.long)
        started = time.perf_counter()
        hidden = self._decoder.hidden(
            chunk,
            torch.arange(row.read, end)[None, :],
            row.cache,
            causal_mask(row.read, end - row.read),
        )
        self.stats.prompt_seconds += time.perf_counter() - started
        self.stats.prompt_tokens += end - row.read
        row.cache.advance(end - row.read)
        row.read = end
        if shared is not None and end == shared[1] and not self._prefixes.has(shared[0]):
            self._prefixes.put(shared[0], ids[:end], row.cache.snapshot(), pinned=True)
        if end < len(ids):
            return
        self._reading = None
        logits = self._decoder.logits(hidden[:, -1])
        if row.job.watch_token is not None:
            row.watched_logprob = float(
                torch.log_softmax(logits.float(), dim=-1)[0, row.job.watch_token]
            )
        token = row.job.sampler.next_token(torch.tensor([row.seen]), logits)
        if token in self._stop_ids or row.job.max_new_tokens <= 1:
            self._keep_conversation(row, row.cache.snapshot())
        if self._accept(row, token):
            self._batch.add(row.cache)
            row.cache = None
            self._running.append(row)

    def _chunk_tokens(self) -> int:
        """As many prompt tokens as fit CHUNK_SECONDS at the measured reading speed while rows
        decode; up to MAX_CHUNK when none do."""
        if not self._running:
            return MAX_CHUNK
        rate = self.stats.prompt_tokens_per_s
        if rate is None:
            return MIN_CHUNK
        return max(MIN_CHUNK, min(MAX_CHUNK, int(rate * CHUNK_SECONDS)))

    def _start(self, row: _Row) -> _Row:
        ids = row.job.prompt_ids
        hit = self._prefixes.longest(ids)
        if hit is None:
            row.cache = RowCache(self._decoder.shape, self._decoder.kv_dtype)
        else:
            row.cache = RowCache(self._decoder.shape, self._decoder.kv_dtype, hit.kv)
            row.read = hit.length
        row.seen = list(ids)
        return row

    def _accept(self, row: _Row, token: int) -> bool:
        """Take a sampled token; False (and the row resolved) when the row is finished."""
        if token in self._stop_ids:
            self._finish(row, hit_limit=False)
            return False
        row.stream.push(token)
        row.seen.append(token)
        if len(row.stream.ids) >= row.job.max_new_tokens:
            self._finish(row, hit_limit=True)
            return False
        row.pending = token
        return True

    def _decode(self) -> None:
        started = time.perf_counter()
        positions, mask = self._batch.begin_step()
        tokens = torch.tensor([[row.pending] for row in self._running], dtype=torch.long)
        hidden = self._decoder.hidden(tokens, positions, self._batch, mask)
        self._batch.end_step()
        logits = self._decoder.logits(hidden[:, -1])
        self.stats.decode_seconds += time.perf_counter() - started
        self.stats.decode_steps += 1
        self.stats.decode_rows += len(self._running)
        for slot in reversed(range(len(self._running))):
            row = self._running[slot]
            token = row.job.sampler.next_token(torch.tensor([row.seen]), logits[slot : slot + 1])
            if token in self._stop_ids or len(row.stream.ids) + 1 >= row.job.max_new_tokens:
                self._keep_conversation(row, self._batch.snapshot(slot))
                self._take_out(slot)
            self._accept(row, token)

    def _take_out(self, slot: int) -> _Row:
        """Remove a running row; the last row moves into its slot, as in the batch cache."""
        row = self._running[slot]
        self._running[slot] = self._running[-1]
        self._running.pop()
        self._batch.remove(slot)
        return row

    def _leave(self, slot: int, cancelled: bool) -> None:
        self._resolve(self._take_out(slot), cancelled=cancelled)

    def _keep_conversation(self, row: _Row, kv: list[LayerKV]) -> None:
        if row.job.conversation is not None:
            length = kv[0][0].shape[2]
            self._prefixes.put(row.job.conversation, row.seen[:length], kv)

    def _finish(self, row: _Row, hit_limit: bool) -> None:
        self._resolve(row, cancelled=False, hit_limit=hit_limit)

    def _resolve(self, row: _Row, cancelled: bool, hit_limit: bool = False) -> None:
        """Hand the row's result to its job; whatever its callback raises ends that job with
        the error and touches no other row."""
        result = GenerationResult(
            text=row.stream.text,
            tokens=len(row.stream.ids),
            hit_limit=hit_limit,
            cancelled=cancelled,
            watched_logprob=row.watched_logprob,
        )
        try:
            follow_up = row.job.on_done(result)
        except Exception as exc:
            log.exception("a finished reply's callback failed")
            _report(row.job, exc)
            return
        if follow_up is not None:
            self.admit(follow_up)


def _report(job: GenerationJob, exc: BaseException) -> None:
    try:
        job.on_error(exc)
    except Exception:
        log.exception("reporting a failed reply failed too")
