"""The chat the model continues to write its reply: persona, mood cue, history, new message."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from engine.language import Language, detect_language
from engine.prompts import reply_system_prompt
from engine.types import Mood, Turn

# A message beyond this is cut to its head: Telegram caps messages at 4096 characters, but other
# front ends (or the API) may not, and the prompt's cost grows with every token.
MAX_MESSAGE_TOKENS = 1024


def reply_language(history: Sequence[Turn], text: str) -> Language:
    """The language of the new message, or of the customer's latest one when it has no words."""
    if any(char.isalpha() for char in text):
        return detect_language(text)
    for turn in reversed(history):
        if turn.role == "user" and any(char.isalpha() for char in turn.text):
            return detect_language(turn.text)
    return "en"


def build_reply_prompt(
    tokenizer: PreTrainedTokenizerBase,
    history: Sequence[Turn],
    text: str,
    mood: Mood,
    history_tokens: int,
) -> tuple[list[int], Language]:
    """Token ids of the chat to continue, keeping the newest history that fits the budget."""
    language = reply_language(history, text)
    system = {"role": "system", "content": reply_system_prompt(language, mood.label)}
    current = {"role": "user", "content": _head(tokenizer, text, MAX_MESSAGE_TOKENS)}
    kept: list[dict[str, str]] = []
    used = 0
    for turn in reversed(history):
        cost = len(tokenizer.encode(turn.text, add_special_tokens=False)) + 5  # role markers
        if used + cost > history_tokens:
            break
        kept.append({"role": turn.role, "content": turn.text})
        used += cost
    kept.reverse()
    # A chat template expects the history to open with the customer, not with an answer.
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    ids = tokenizer.apply_chat_template(
        [system, *kept, current], tokenize=True, add_generation_prompt=True
    )
    if not isinstance(ids, list):
        ids = list(ids["input_ids"])
    return ids, language


def _head(tokenizer: PreTrainedTokenizerBase, text: str, limit: int) -> str:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= limit:
        return text
    return tokenizer.decode(ids[:limit]) + " …"
