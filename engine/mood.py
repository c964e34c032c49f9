"""Mood classification in one forward pass over a cached instruction prefix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from engine.control_tokens import defuse_control_tokens
from engine.language import Language, detect_language
from engine.mood_decision import MAX_TEXT_TOKENS, decide_mood
from engine.prompts import CLASSIFICATION_PROMPTS, TEXT_SLOT, ClassificationPrompt, MoodCalibration
from engine.types import Mood
from engine.vocabulary import MoodLabel


@dataclass
class _PreparedPrompt:
    prefix_kv: list[tuple[torch.Tensor, torch.Tensor]]
    prefix_len: int
    suffix_ids: list[int]
    labels: tuple[MoodLabel, ...]
    calibration: MoodCalibration
    # fp32 rows of the output projection for the label tokens: bf16 logits are too coarse for
    # a meaningful confidence.
    label_weights: torch.Tensor
    label_bias: torch.Tensor | None


def _split_on_slot(rendered: str) -> tuple[str, str]:
    prefix, _, suffix = rendered.partition(TEXT_SLOT)
    return prefix, suffix


class MoodClassifier:
    """Reads the model's next-token logits of the label words after a classification prompt."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        neutral_thresholds: Mapping[Language, float],
        prompts: dict[Language, ClassificationPrompt] = CLASSIFICATION_PROMPTS,
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self.neutral_thresholds = neutral_thresholds
        self._prepared = {lang: self._prepare(prompt) for lang, prompt in prompts.items()}

    @torch.inference_mode()
    def _prepare(self, prompt: ClassificationPrompt) -> _PreparedPrompt:
        rendered = self._tokenizer.apply_chat_template(
            [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            tokenize=False,
            add_generation_prompt=True,
        )
        prefix, suffix = _split_on_slot(rendered + prompt.answer_prefix)
        prefix_ids = self._tokenizer(prefix, add_special_tokens=False, return_tensors="pt")
        output = self._model.model(input_ids=prefix_ids.input_ids, use_cache=True)
        cache = output.cache
        prefix_kv = [(layer.keys, layer.values) for layer in cache.layers]
        labels = tuple(prompt.label_words)
        label_ids = []
        for label in labels:
            ids = self._tokenizer.encode(prompt.label_words[label], add_special_tokens=False)
            label_ids.append(ids[0])
        if len(set(label_ids)) != len(label_ids):
            raise ValueError(f"label words {prompt.label_words} share their first token")
        head = self._model.get_output_embeddings()
        weights = head.weight[label_ids].detach().float()
        bias = head.bias[label_ids].detach().float() if head.bias is not None else None
        return _PreparedPrompt(
            prefix_kv=prefix_kv,
            prefix_len=prefix_ids.input_ids.shape[1],
            suffix_ids=self._tokenizer.encode(suffix, add_special_tokens=False),
            labels=labels,
            calibration=prompt.calibration,
            label_weights=weights,
            label_bias=bias,
        )

    def _text_ids(self, text: str) -> list[int]:
        defused = defuse_control_tokens(self._tokenizer, text)
        ids = self._tokenizer.encode(defused, add_special_tokens=False)
        if len(ids) > MAX_TEXT_TOKENS:
            half = MAX_TEXT_TOKENS // 2
            ids = ids[:half] + ids[-half:]
        return ids

    def probabilities_many(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """The softmax over the label words for each text, batched per language."""
        results: list[dict[str, float] | None] = [None] * len(texts)
        by_language: dict[Language, list[int]] = {}
        for index, text in enumerate(texts):
            by_language.setdefault(detect_language(text), []).append(index)
        for language, indices in by_language.items():
            probs = self._forward(self._prepared[language], [texts[i] for i in indices])
            for index, row in zip(indices, probs, strict=True):
                results[index] = row
        return [row for row in results if row is not None]

    @torch.inference_mode()
    def _forward(self, prepared: _PreparedPrompt, texts: Sequence[str]) -> list[dict[str, float]]:
        sequences = [self._text_ids(text) + prepared.suffix_ids for text in texts]
        lengths = [len(seq) for seq in sequences]
        width = max(lengths)
        batch = len(sequences)
        pad = self._tokenizer.pad_token_id or 0
        # Right padding keeps every real token right after the shared prefix; causal attention
        # means the pads after a sequence never influence its last real position.
        input_ids = torch.full((batch, width), pad, dtype=torch.long)
        attention = torch.zeros((batch, prepared.prefix_len + width), dtype=torch.long)
        attention[:, : prepared.prefix_len] = 1
        for row, seq in enumerate(sequences):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            attention[row, prepared.prefix_len : prepared.prefix_len + len(seq)] = 1
        cache = DynamicCache(
            [
                (k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                for k, v in prepared.prefix_kv
            ],
        )
        positions = torch.arange(prepared.prefix_len, prepared.prefix_len + width).expand(batch, -1)
        hidden = self._model.model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            cache=cache,
            use_cache=True,
        ).last_hidden_state
        last = hidden[torch.arange(batch), torch.tensor(lengths) - 1].float()
        logits = last @ prepared.label_weights.T
        if prepared.label_bias is not None:
            logits = logits + prepared.label_bias
        probs = torch.softmax(logits, dim=-1).tolist()
        return [dict(zip(prepared.labels, row, strict=True)) for row in probs]

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        moods = []
        for text, probs in zip(texts, self.probabilities_many(texts), strict=True):
            language = detect_language(text)
            calibration = self._prepared[language].calibration
            moods.append(decide_mood(probs, self.neutral_thresholds[language], calibration))
        return moods
