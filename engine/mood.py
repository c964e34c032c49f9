"""Mood classification in one forward pass over a cached instruction prefix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from engine.control_tokens import defuse_control_tokens
from engine.decoder import Decoder
from engine.label_reader import Branch, LabelReader, Prefix
from engine.language import Language, detect_language
from engine.mood_decision import MAX_TEXT_TOKENS, decide_mood
from engine.prompts import CLASSIFICATION_PROMPTS, TEXT_SLOT, ClassificationPrompt, MoodCalibration
from engine.types import Mood
from engine.vocabulary import MoodLabel


@dataclass
class _PreparedPrompt:
    prefix: Prefix
    branch: Branch
    labels: tuple[MoodLabel, ...]
    calibration: MoodCalibration


def _split_on_slot(rendered: str) -> tuple[str, str]:
    prefix, _, suffix = rendered.partition(TEXT_SLOT)
    return prefix, suffix


class MoodClassifier:
    """Reads the model's next-token probabilities of the label words after a classification
    prompt whose constant opening is computed once."""

    def __init__(
        self,
        decoder: Decoder,
        tokenizer: PreTrainedTokenizerBase,
        neutral_thresholds: Mapping[Language, float],
        prompts: dict[Language, ClassificationPrompt] = CLASSIFICATION_PROMPTS,
    ) -> None:
        self._reader = LabelReader(decoder)
        self._tokenizer = tokenizer
        self.neutral_thresholds = neutral_thresholds
        self._prepared = {lang: self._prepare(prompt) for lang, prompt in prompts.items()}

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
        labels = tuple(prompt.label_words)
        label_ids = tuple(
            self._tokenizer.encode(prompt.label_words[label], add_special_tokens=False)[0]
            for label in labels
        )
        if len(set(label_ids)) != len(label_ids):
            raise ValueError(f"label words {prompt.label_words} share their first token")
        return _PreparedPrompt(
            prefix=self._reader.prefix(self._tokenizer.encode(prefix, add_special_tokens=False)),
            branch=Branch(
                tuple(self._tokenizer.encode(suffix, add_special_tokens=False)), label_ids
            ),
            labels=labels,
            calibration=prompt.calibration,
        )

    def _text_ids(self, text: str) -> list[int]:
        defused = defuse_control_tokens(self._tokenizer, text)
        ids = self._tokenizer.encode(defused, add_special_tokens=False)
        if len(ids) > MAX_TEXT_TOKENS:
            half = MAX_TEXT_TOKENS // 2
            ids = ids[:half] + ids[-half:]
        return ids

    def probabilities_many(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """The softmax over the label words for each text, in one pass per language."""
        results: list[dict[str, float] | None] = [None] * len(texts)
        by_language: dict[Language, list[int]] = {}
        for index, text in enumerate(texts):
            by_language.setdefault(detect_language(text), []).append(index)
        for language, indices in by_language.items():
            prepared = self._prepared[language]
            read = self._reader.read(
                prepared.prefix, [self._text_ids(texts[i]) for i in indices], [prepared.branch]
            )
            for index, (probabilities,) in zip(indices, read, strict=True):
                results[index] = dict(zip(prepared.labels, probabilities.tolist(), strict=True))
        return [row for row in results if row is not None]

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        moods = []
        for text, probs in zip(texts, self.probabilities_many(texts), strict=True):
            language = detect_language(text)
            calibration = self._prepared[language].calibration
            moods.append(decide_mood(probs, self.neutral_thresholds[language], calibration))
        return moods
