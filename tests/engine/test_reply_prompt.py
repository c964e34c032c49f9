import itertools
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from engine.reply_prompt import MAX_MESSAGE_TOKENS, build_reply_prompt, recent_turns
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
    prompt = build_reply_prompt(tokenizer, history, "latest message", NEUTRAL, history_tokens=120)
    text = _rendered(tokenizer, prompt.ids)
    assert "answer 29" in text and "question 29" in text
    assert "question 0 " not in text
    first_turn = text.split("<|im_start|>")[2]
    assert first_turn.startswith("user"), first_turn
    assert text.rstrip().endswith("<|im_start|>assistant")


def test_zero_history_budget_sends_only_the_new_message(tokenizer) -> None:  # type: ignore[no-untyped-def]
    history = [Turn("user", "old question"), Turn("assistant", "old answer")]
    prompt = build_reply_prompt(tokenizer, history, "new one", NEUTRAL, history_tokens=0)
    text = _rendered(tokenizer, prompt.ids)
    assert "old question" not in text and "new one" in text


def test_the_mood_cue_and_language_follow_the_message(tokenizer) -> None:  # type: ignore[no-untyped-def]
    prompt = build_reply_prompt(tokenizer, [], "快递丢了", Mood("negative", 0.9), history_tokens=64)
    assert prompt.language == "zh"
    text = _rendered(tokenizer, prompt.ids)
    assert "体谅" in text
    assert text.index("快递丢了") < text.index("体谅"), "the cue follows the message"


def test_an_overlong_message_is_cut_to_its_head(tokenizer) -> None:  # type: ignore[no-untyped-def]
    prompt = build_reply_prompt(tokenizer, [], "help me " * 20_000, NEUTRAL, history_tokens=256)
    assert prompt.language == "en"
    assert MAX_MESSAGE_TOKENS < len(prompt.ids) < MAX_MESSAGE_TOKENS + 200


def test_every_reply_in_a_language_opens_with_the_same_system_turn(tokenizer) -> None:  # type: ignore[no-untyped-def]
    calm = build_reply_prompt(tokenizer, [], "hello there", NEUTRAL, history_tokens=64)
    upset = build_reply_prompt(
        tokenizer,
        [Turn("user", "my parcel is lost", "negative"), Turn("assistant", "Sorry!")],
        "still nothing",
        Mood("negative", 0.9),
        history_tokens=256,
    )
    assert calm.shared_length == upset.shared_length > 0
    assert calm.ids[: calm.shared_length] == upset.ids[: upset.shared_length]
    assert "<|im_end|>" in _rendered(tokenizer, calm.ids[: calm.shared_length])


def test_the_next_turn_extends_the_previous_prompt(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """What makes a conversation's cache reusable: the earlier prompt, each customer turn with
    its own mood cue, is where the next prompt starts."""
    first = build_reply_prompt(
        tokenizer, [], "my parcel is lost", Mood("negative", 0.9), history_tokens=512
    )
    history = [Turn("user", "my parcel is lost", "negative"), Turn("assistant", "So sorry!")]
    second = build_reply_prompt(
        tokenizer, history, "thanks, found it", Mood("positive", 0.9), history_tokens=512
    )
    assert second.ids[: len(first.ids)] == first.ids


def test_trimming_keeps_the_same_first_turn_for_several_turns() -> None:
    """Each message's prompt drops old turns in slices, so most turns extend the previous
    prompt (a cache hit) instead of all shifting by one."""
    history: list[Turn] = []
    starts = []
    for index in range(30):
        kept = recent_turns(history, 300, lambda turn: 30)
        assert sum(30 for _ in kept) <= 300
        starts.append(len(history) - len(kept))
        history += [Turn("user", f"question {index}"), Turn("assistant", f"answer {index}")]
    changes = sum(1 for before, after in itertools.pairwise(starts) if before != after)
    assert starts[-1] > 0, "the budget was exceeded"
    # Dropping one exchange at a time would change the first turn on 25 of the 30 messages.
    assert changes <= len(starts) // 2


def test_an_operator_turn_reads_to_the_model_as_its_own(tokenizer) -> None:  # type: ignore[no-untyped-def]
    def prompt(role: str) -> list[int]:
        history = [Turn("user", "where is my parcel?"), Turn(role, "It ships today.")]  # type: ignore[arg-type]
        return build_reply_prompt(tokenizer, history, "thanks", NEUTRAL, history_tokens=500).ids

    assert prompt("operator") == prompt("assistant")
    assert "It ships today." in _rendered(tokenizer, prompt("operator"))
