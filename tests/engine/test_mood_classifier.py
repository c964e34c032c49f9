"""The cached-prefix, batched classifier must compute exactly what a plain forward pass does."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from engine.mood import MoodClassifier
from engine.mood_decision import decide_mood
from engine.prompts import CLASSIFICATION_PROMPTS, TEXT_SLOT
from engine.types import Mood


def _plain_probabilities(model, tokenizer, text: str, language: str) -> list[float]:
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
    with torch.inference_mode():
        hidden = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1].float()
        label_ids = [
            tokenizer.encode(w, add_special_tokens=False)[0] for w in prompt.label_words.values()
        ]
        logits = hidden @ model.get_output_embeddings().weight[label_ids].float().T
    return torch.softmax(logits, -1).tolist()


def test_cached_prefix_batch_matches_plain_forward(tiny_model_dir) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    classifier = MoodClassifier(model, tokenizer, {"en": 0.7, "zh": 0.7})
    texts = [
        "I love it!",
        "这家店的服务太差了，再也不来了",
        "ok",
        "The delivery was late again and nobody called me.",
    ]
    batched = classifier.probabilities_many(texts)
    languages = ["en", "zh", "en", "en"]
    for text, language, probs in zip(texts, languages, batched, strict=True):
        expected = _plain_probabilities(model, tokenizer, text, language)
        assert list(probs.values()) == pytest.approx(expected, abs=1e-4)
        assert sum(probs.values()) == pytest.approx(1.0)


def test_neutral_band() -> None:
    probs = {"positive": 0.9, "negative": 0.1}
    assert decide_mood(probs, 0.8) == Mood("positive", 0.9, probs)
    low = decide_mood({"positive": 0.3, "negative": 0.7}, 0.8)
    assert low.label == "neutral"
    assert low.confidence == pytest.approx(0.6)
    assert decide_mood({"positive": 0.1, "negative": 0.9}, 0.8).label == "negative"
