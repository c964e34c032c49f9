"""Mood classification (and, with triage, the intent) in one forward pass over a cached
instruction prefix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from transformers import PreTrainedTokenizerBase

from engine.control_tokens import defuse_control_tokens
from engine.decoder import Decoder
from engine.label_questions import LabelTree, label_tree
from engine.label_reader import Branch, LabelReader, Prefix
from engine.language import Language, detect_language
from engine.mood_decision import MAX_TEXT_TOKENS, decide_intent, decide_mood
from engine.prompts import CLASSIFICATION_PROMPTS, TEXT_SLOT, ClassificationPrompt, MoodCalibration
from engine.triage_prompt import (
    TRIAGE_PROMPTS,
    TriagePrompt,
    intent_label,
)
from engine.types import Mood
from engine.vocabulary import MoodLabel


@dataclass
class _PreparedPrompt:
    prefix: Prefix
    # The mood's branch (at `mood`) and the intent's (if any).
    branches: tuple[Branch, ...]
    labels: tuple[MoodLabel, ...]
    calibration: MoodCalibration
    mood: int = 0
    intents: tuple[str, ...] = ()
    intent_tree: LabelTree | None = None


@dataclass(frozen=True)
class Reading:
    """What one pass read of a message: its language, the mood's label-word probabilities and
    (with triage) each intent's probability."""

    language: Language
    mood: dict[str, float]
    intents: dict[str, float]


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
        *,
        intents: Mapping[str, str] | None = None,
        triage_prompts: dict[Language, TriagePrompt] = TRIAGE_PROMPTS,
    ) -> None:
        """With `intents` (name → description), each message's intent is read beside its
        mood, after the triage prompt; without, the mood alone after the mood prompt."""
        self._reader = LabelReader(decoder)
        self._tokenizer = tokenizer
        self.neutral_thresholds = neutral_thresholds
        if intents is None:
            self._prepared = {lang: self._prepare(prompt) for lang, prompt in prompts.items()}
        else:
            self._prepared = {
                lang: self._prepare_triage(prompt, lang, intents)
                for lang, prompt in triage_prompts.items()
            }

    def _render(self, system: str, user: str) -> tuple[str, str]:
        rendered = self._tokenizer.apply_chat_template(
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            tokenize=False,
            add_generation_prompt=True,
        )
        return _split_on_slot(rendered)

    def _ids(self, text: str) -> tuple[int, ...]:
        return tuple(self._tokenizer.encode(text, add_special_tokens=False))

    def _label_ids(self, words: dict[MoodLabel, str]) -> tuple[int, ...]:
        label_ids = tuple(self._ids(words[label])[0] for label in words)
        if len(set(label_ids)) != len(label_ids):
            raise ValueError(f"label words {words} share their first token")
        return label_ids

    def _prepare(self, prompt: ClassificationPrompt) -> _PreparedPrompt:
        prefix, suffix = self._render(prompt.system, prompt.user)
        return _PreparedPrompt(
            prefix=self._reader.prefix(self._ids(prefix)),
            branches=(
                Branch(
                    self._ids(suffix + prompt.answer_prefix), self._label_ids(prompt.label_words)
                ),
            ),
            labels=tuple(prompt.label_words),
            calibration=prompt.calibration,
        )

    def _prepare_triage(
        self, prompt: TriagePrompt, language: Language, intents: Mapping[str, str]
    ) -> _PreparedPrompt:
        prefix, stem = self._render(prompt.system_with(intents, language), prompt.user)
        # The end of the user turn and the start of the assistant's, shared by both answers.
        shared = Branch(self._ids(stem), ())
        mood = Branch(self._ids(prompt.mood_answer), self._label_ids(prompt.label_words), 0)
        tree = label_tree(
            self._ids(prompt.intent_answer),
            [self._ids(intent_label(name)) for name in intents],
            start=2,
            parent=0,
        )
        return _PreparedPrompt(
            prefix=self._reader.prefix(self._ids(prefix)),
            branches=(shared, mood, *tree.branches),
            labels=tuple(prompt.label_words),
            calibration=prompt.calibration,
            mood=1,
            intents=tuple(intents),
            intent_tree=tree,
        )

    def _text_ids(self, text: str) -> list[int]:
        defused = defuse_control_tokens(self._tokenizer, text)
        ids = self._tokenizer.encode(defused, add_special_tokens=False)
        if len(ids) > MAX_TEXT_TOKENS:
            half = MAX_TEXT_TOKENS // 2
            ids = ids[:half] + ids[-half:]
        return ids

    def readings(self, texts: Sequence[str]) -> list[Reading]:
        """Per text, the softmax over the mood's label words and (with triage) each intent's
        probability, in one pass per language."""
        results: list[Reading | None] = [None] * len(texts)
        by_language: dict[Language, list[int]] = {}
        for index, text in enumerate(texts):
            by_language.setdefault(detect_language(text), []).append(index)
        for language, indices in by_language.items():
            prepared = self._prepared[language]
            read = self._reader.read(
                prepared.prefix, [self._text_ids(texts[i]) for i in indices], prepared.branches
            )
            for index, branches in zip(indices, read, strict=True):
                mood = dict(zip(prepared.labels, branches[prepared.mood].tolist(), strict=True))
                intents: dict[str, float] = {}
                if prepared.intent_tree is not None:
                    found = prepared.intent_tree.probabilities([b.tolist() for b in branches])
                    intents = dict(zip(prepared.intents, found, strict=True))
                results[index] = Reading(language, mood, intents)
        return [row for row in results if row is not None]

    def probabilities_many(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """The softmax over the mood's label words for each text."""
        return [reading.mood for reading in self.readings(texts)]

    def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        moods = []
        for reading in self.readings(texts):
            prepared = self._prepared[reading.language]
            mood = decide_mood(
                reading.mood, self.neutral_thresholds[reading.language], prepared.calibration
            )
            moods.append(replace(mood, intent=decide_intent(reading.intents)))
        return moods
