from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from engine.reply_prompt import MAX_MESSAGE_TOKENS, build_reply_prompt
from engine.types import Mood, Turn

NEUTRAL = Mood("neutral", 0.5)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _rendered(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> str:
    return tokenizer.decode(ids)


def test_history_is_trimmed_oldest_first_and_opens_with_the_customer(tokenizer) -> None:  # type: ignore[no-untyped-def]
    history = []
    for index in range(30):
        history += [
            Turn("user", f"question {index} " * 5),
            Turn("assistant", f"answer {index} " * 5),
        ]
    ids, _ = build_reply_prompt(tokenizer, history, "latest message", NEUTRAL, history_tokens=120)
    text = _rendered(tokenizer, ids)
    assert "answer 29" in text and "question 29" in text
    assert "question 0 " not in text
    first_turn = text.split("<|im_start|>")[2]
    assert first_turn.startswith("user"), first_turn
    assert text.rstrip().endswith("<|im_start|>assistant")


def test_zero_history_budget_sends_only_the_new_message(tokenizer) -> None:  # type: ignore[no-untyped-def]
    history = [Turn("user", "old question"), Turn("assistant", "old answer")]
    ids, _ = build_reply_prompt(tokenizer, history, "new one", NEUTRAL, history_tokens=0)
    text = _rendered(tokenizer, ids)
    assert "old question" not in text and "new one" in text


def test_the_mood_cue_and_language_follow_the_message(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids, language = build_reply_prompt(
        tokenizer, [], "快递丢了", Mood("negative", 0.9), history_tokens=64
    )
    assert language == "zh"
    assert "体谅" in _rendered(tokenizer, ids)


def test_an_overlong_message_is_cut_to_its_head(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids, language = build_reply_prompt(
        tokenizer, [], "help me " * 20_000, NEUTRAL, history_tokens=256
    )
    assert language == "en"
    assert MAX_MESSAGE_TOKENS < len(ids) < MAX_MESSAGE_TOKENS + 200


def test_an_operator_turn_reads_to_the_model_as_its_own(tokenizer) -> None:  # type: ignore[no-untyped-def]
    def prompt(role: str) -> list[int]:
        history = [Turn("user", "where is my parcel?"), Turn(role, "It ships today.")]  # type: ignore[arg-type]
        ids, _ = build_reply_prompt(tokenizer, history, "thanks", NEUTRAL, history_tokens=500)
        return ids

    assert prompt("operator") == prompt("assistant")
    assert "It ships today." in _rendered(tokenizer, prompt("operator"))
