"""The cached-prefix, batched classifier must compute exactly what a plain forward pass does."""

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from bench.tiny_model import tiny_engine_config
from engine.decoder import Decoder
from engine.kv_cache import RowCache, causal_mask
from engine.loading import load_model
from engine.local_backend import build_decoder
from engine.mood import MoodClassifier
from engine.mood_decision import decide_mood
from engine.prompts import CLASSIFICATION_PROMPTS, TEXT_SLOT, MoodCalibration


def _plain_probabilities(
    decoder: Decoder, tokenizer: PreTrainedTokenizerBase, text: str, language: str
) -> list[float]:
    """The label probabilities from one pass over the whole prompt, nothing cached or batched."""
    prompt = CLASSIFICATION_PROMPTS[language]
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}],
        tokenize=False,
        add_generation_prompt=True,
    )
    prefix, suffix = (rendered + prompt.answer_prefix).split(TEXT_SLOT)
    ids = (
        tokenizer.encode(prefix, add_special_tokens=False)
        + tokenizer.encode(text, add_special_tokens=False)
        + tokenizer.encode(suffix, add_special_tokens=False)
    )
    cache = RowCache(decoder.shape, decoder.kv_dtype)
    hidden = decoder.hidden(
        torch.tensor([ids]), torch.arange(len(ids))[None], cache, causal_mask(0, len(ids))
    )
    label_ids = [
        tokenizer.encode(w, add_special_tokens=False)[0] for w in prompt.label_words.values()
    ]
    return torch.softmax(decoder.label_logits(hidden[:, -1], label_ids), -1)[0].tolist()


@pytest.mark.parametrize("dtype", ["bf16", "int4"])
def test_cached_prefix_batch_matches_plain_forward(tiny_model_dir: Path, dtype: str) -> None:
    """Texts of both languages and different lengths, read in one batch after the cached
    prompt opening: each gets what reading its whole prompt alone gives."""
    loaded = load_model(replace(tiny_engine_config(tiny_model_dir), dtype=dtype))
    decoder = build_decoder(loaded)
    classifier = MoodClassifier(decoder, loaded.tokenizer, {"en": 0.7, "zh": 0.7})
    texts = [
        "I love it!",
        "这家店的服务太差了，再也不来了",
        "ok",
        "The delivery was late again and nobody called me.",
    ]
    batched = classifier.probabilities_many(texts)
    languages = ["en", "zh", "en", "en"]
    for text, language, probs in zip(texts, languages, batched, strict=True):
        expected = _plain_probabilities(decoder, loaded.tokenizer, text, language)
        assert list(probs.values()) == pytest.approx(expected, abs=1e-4)
        assert sum(probs.values()) == pytest.approx(1.0)


def test_neutral_band() -> None:
    probs = {"positive": 0.9, "negative": 0.1}
    mood = decide_mood(probs, 0.8)
    assert (mood.label, mood.confidence) == ("positive", pytest.approx(0.9))
    assert mood.probabilities == pytest.approx(probs)
    low = decide_mood({"positive": 0.3, "negative": 0.7}, 0.8)
    assert low.label == "neutral"
    assert low.confidence == pytest.approx(0.6)
    assert decide_mood({"positive": 0.1, "negative": 0.9}, 0.8).label == "negative"


def test_negative_lean_moves_the_odds_towards_negative() -> None:
    probs = {"positive": 0.6, "negative": 0.4}
    assert decide_mood(probs, 0.55).label == "positive"
    leaning = decide_mood(probs, 0.55, MoodCalibration(negative_lean=math.log(1.5) + math.log(3)))
    assert leaning.label == "negative"
    # odds 1.5 : 1 less a lean of 4.5 : 1 leave 1 : 3
    assert leaning.confidence == pytest.approx(0.75)
    assert leaning.probabilities["positive"] + leaning.probabilities["negative"] == pytest.approx(1)


def test_neutral_word_reaching_its_floor_makes_the_mood_neutral() -> None:
    calibration = MoodCalibration(neutral_word_floor=0.8)
    calm = decide_mood({"positive": 0.05, "negative": 0.1, "neutral": 0.85}, 0.55, calibration)
    assert (calm.label, calm.confidence) == ("neutral", 0.85)
    assert calm.probabilities["neutral"] == 0.85
    upset = decide_mood({"positive": 0.05, "negative": 0.2, "neutral": 0.75}, 0.55, calibration)
    assert upset.label == "negative"
    assert upset.confidence == pytest.approx(0.8)


def test_a_label_rounded_to_zero_probability_is_still_decided() -> None:
    assert decide_mood({"positive": 0.0, "negative": 1.0}, 0.9).label == "negative"
