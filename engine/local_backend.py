"""The in-process model behind the inference worker: both roles, one set of weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedModel

from engine.config import EngineConfig, SamplingConfig
from engine.decoder import Decoder, DenseProjection, dense_layers
from engine.decoding import DecodingLoop, GenerationJob, GenerationResult
from engine.loading import LoadedModel
from engine.model_cache import Progress, ProgressFactory, default_cache_dir
from engine.mood import MoodClassifier
from engine.prefix_cache import PrefixCache
from engine.prompts import CLASSIFICATION_PROMPTS
from engine.quantization import drop_dense_head, int4_layers, int4_weights_file, load_or_quantize
from engine.reply_prompt import build_reply_prompt, chat_token_ids
from engine.reply_text import finish_reply
from engine.sampling import RowSampler, banned_token_ids, stop_token_ids
from engine.types import Mood, Turn
from engine.worker import CompleteRequest, ReplyRequest

GREEDY = SamplingConfig(temperature=0.0, repetition_penalty=1.0)


@dataclass(frozen=True)
class ReplyPayload:
    history: tuple[Turn, ...]
    text: str
    mood: Mood
    conversation: str | None = None


def build_decoder(
    loaded: LoadedModel, config: EngineConfig, progress: ProgressFactory = Progress
) -> Decoder:
    """The decoder for `config.dtype`; int4 frees the bf16 output head."""
    model: PreTrainedModel = loaded.model
    if config.dtype == "bf16":
        head = model.get_output_embeddings()
        return Decoder(model, dense_layers(model), DenseProjection(head.weight, head.bias))
    cache_dir = config.cache_dir or default_cache_dir()
    tensors = load_or_quantize(model, int4_weights_file(cache_dir, loaded.source), progress)
    layers, head = int4_layers(model, tensors)
    decoder = Decoder(model, layers, head)
    drop_dense_head(model)
    return decoder


class LocalBackend:
    def __init__(
        self, loaded: LoadedModel, config: EngineConfig, progress: ProgressFactory = Progress
    ) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.source = loaded.source
        self._sampling = config.sampling
        thresholds = {lang: config.neutral_threshold_for(lang) for lang in CLASSIFICATION_PROMPTS}
        # Before the decoder: the classifier copies its fp32 label rows of the bf16 head, which
        # the int4 decoder then frees.
        self.classifier = MoodClassifier(loaded.model, loaded.tokenizer, thresholds)
        self.decoder = build_decoder(loaded, config, progress)
        self.prefixes = PrefixCache(config.cache_mb * 2**20)
        self._banned = banned_token_ids(loaded.tokenizer)
        self._stop_ids = stop_token_ids(loaded.model, loaded.tokenizer)

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        return self.classifier.classify_many(texts)

    def decoding_loop(self, max_batch: int) -> DecodingLoop:
        return DecodingLoop(self.decoder, self.tokenizer, self.prefixes, self._stop_ids, max_batch)

    def reply_job(self, request: ReplyRequest) -> GenerationJob:
        payload = request.payload
        assert isinstance(payload, ReplyPayload)
        prompt = build_reply_prompt(
            self.tokenizer,
            payload.history,
            payload.text,
            payload.mood,
            self._sampling.history_tokens,
        )

        def done(result: GenerationResult) -> None:
            request.future.set_result(
                result.text
                if result.cancelled
                else finish_reply(
                    result.text, prompt.language, payload.mood.label, result.hit_limit
                )
            )

        return GenerationJob(
            prompt_ids=prompt.ids,
            sampler=RowSampler(self._sampling, self._banned, self._stop_ids),
            max_new_tokens=self._sampling.max_new_tokens,
            on_delta=request.on_delta,
            is_cancelled=request.cancelled.is_set,
            on_done=done,
            on_error=request.future.set_exception,
            conversation=payload.conversation,
            shared_prefix=(f"system:{prompt.language}", prompt.shared_length)
            if prompt.shared_length
            else None,
        )

    def complete_job(self, request: CompleteRequest) -> GenerationJob:
        return GenerationJob(
            prompt_ids=chat_token_ids(self.tokenizer, request.messages),
            sampler=RowSampler(GREEDY, [], self._stop_ids),
            max_new_tokens=request.max_new_tokens,
            on_delta=lambda _: None,
            is_cancelled=lambda: False,
            on_done=lambda result: request.future.set_result(result.text.strip()),
            on_error=request.future.set_exception,
        )
