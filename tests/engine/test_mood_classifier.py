"""The cached-prefix, batched classifier must compute exactly what a plain forward pass does."""

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from bench.tiny_model import tiny_engine_config
from engine.config import DEFAULT_INTENTS
from engine.decoder import Decoder
from engine.kv_cache import RowCache, causal_mask
from engine.language import Language
from engine.loading import load_model
from engine.local_backend import build_decoder
from engine.mood import MoodClassifier
from engine.mood_decision import decide_mood
from engine.prompts import CLASSIFICATION_PROMPTS, TEXT_SLOT, MoodCalibration
from engine.triage_prompt import INTENTS_SLOT, TRIAGE_PROMPTS, intent_label, intents_text


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


def _plain_intents(
    decoder: Decoder,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    language: Language,
    intents: dict[str, str],
) -> dict[str, float]:
    """Each intent's probability, token by token, from whole prompts read alone (the answer
    opened with the intent's words, as the model would answer the intent alone): the softmax
    over the distinct first tokens, then (for names sharing it) over the next tokens."""
    prompt = TRIAGE_PROMPTS[language]
    system = prompt.system.replace(INTENTS_SLOT, intents_text(intents, language))
    rendered = tokenizer.apply_chat_template(
        [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt.user},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    before, after = (rendered + prompt.intent_answer).split(TEXT_SLOT)
    opening = (
        tokenizer.encode(before, add_special_tokens=False)
        + tokenizer.encode(text, add_special_tokens=False)
        + tokenizer.encode(after, add_special_tokens=False)
    )
    names = {
        name: tokenizer.encode(intent_label(name), add_special_tokens=False) for name in intents
    }

    def next_token(ids: list[int], choices: list[int]) -> dict[int, float]:
        cache = RowCache(decoder.shape, decoder.kv_dtype)
        hidden = decoder.hidden(
            torch.tensor([ids]), torch.arange(len(ids))[None], cache, causal_mask(0, len(ids))
        )
        found = torch.softmax(decoder.label_logits(hidden[:, -1], choices), -1)[0].tolist()
        return dict(zip(choices, found, strict=True))

    firsts = next_token(opening, list(dict.fromkeys(ids[0] for ids in names.values())))
    found = {}
    for name, ids in names.items():
        sharing = [other for other in names.values() if other[0] == ids[0]]
        probability = firsts[ids[0]]
        if len(sharing) > 1:
            seconds = next_token([*opening, ids[0]], list(dict.fromkeys(o[1] for o in sharing)))
            probability *= seconds[ids[1]]
        found[name] = probability
    return found


@pytest.mark.parametrize("dtype", ["bf16", "int4"])
def test_triage_reads_each_intent_as_its_whole_prompt_would(
    tiny_model_dir: Path, dtype: str
) -> None:
    """The intent's branches after the message (the mood's beside them, unseen) give what the
    whole triage prompt, read alone token by token, gives; names sharing their first token
    (order_status, order_change) included."""
    loaded = load_model(replace(tiny_engine_config(tiny_model_dir), dtype=dtype))
    decoder = build_decoder(loaded)
    classifier = MoodClassifier(
        decoder, loaded.tokenizer, {"en": 0.7, "zh": 0.7}, intents=DEFAULT_INTENTS
    )
    texts = ["where is my order 5521?", "我想退货", "thanks a lot"]
    readings = classifier.readings(texts)
    for text, language, reading in zip(texts, ["en", "zh", "en"], readings, strict=True):
        expected = _plain_intents(decoder, loaded.tokenizer, text, language, DEFAULT_INTENTS)
        assert list(reading.intents) == list(DEFAULT_INTENTS)
        assert reading.intents == pytest.approx(expected, abs=1e-3)
        assert sum(reading.intents.values()) == pytest.approx(1.0, abs=1e-4)
    moods = classifier.classify_many(texts)
    assert all(mood.intent is not None for mood in moods)
    assert (
        MoodClassifier(decoder, loaded.tokenizer, {"en": 0.7, "zh": 0.7})
        .classify_many(texts)[0]
        .intent
        is None
    )
