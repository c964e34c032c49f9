"""The chat the model continues to write its reply: persona, mood cue, history, new message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # For annotations only: the OpenAI backend uses this module without transformers loaded.
    from transformers import PreTrainedTokenizerBase

from engine.control_tokens import defuse_control_tokens
from engine.language import Language, detect_language
from engine.prompts import reply_system_prompt
from engine.types import Mood, Turn

# A message beyond this is cut to its head: Telegram caps messages at 4096 characters, but other
# front ends (or the API) may not, and the prompt's cost grows with every token.
MAX_MESSAGE_TOKENS = 1024
# The chat template's role markers around each turn.
TURN_OVERHEAD_TOKENS = 5


def reply_language(history: Sequence[Turn], text: str) -> Language:
    """The language of the new message, or of the customer's latest one when it has no words."""
    if any(char.isalpha() for char in text):
        return detect_language(text)
    for turn in reversed(history):
        if turn.role == "user" and any(char.isalpha() for char in turn.text):
            return detect_language(turn.text)
    return "en"


def recent_turns(
    history: Sequence[Turn], budget: float, cost: Callable[[Turn], float]
) -> list[Turn]:
    """The newest turns whose cost fits the budget, opening with the customer's."""
    kept: list[Turn] = []
    used = 0.0
    for turn in reversed(history):
        if used + cost(turn) > budget:
            break
        kept.append(turn)
        used += cost(turn)
    kept.reverse()
    # A chat template expects the history to open with the customer, not with an answer.
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def build_reply_prompt(
    tokenizer: PreTrainedTokenizerBase,
    history: Sequence[Turn],
    text: str,
    mood: Mood,
    history_tokens: int,
    system_prompt: Callable[[Language], str] | None = None,
) -> tuple[list[int], Language]:
    """Token ids of the chat to continue, keeping the newest history that fits the budget;
    `system_prompt` (the grounded one, with the facts) replaces the plain persona."""
    text = defuse_control_tokens(tokenizer, text)
    history = [Turn(turn.role, defuse_control_tokens(tokenizer, turn.text)) for turn in history]
    language = reply_language(history, text)
    system = {
        "role": "system",
        "content": (
            system_prompt(language) if system_prompt else reply_system_prompt(language, mood.label)
        ),
    }
    current = {"role": "user", "content": _head(tokenizer, text, MAX_MESSAGE_TOKENS)}
    kept = recent_turns(
        history,
        history_tokens,
        lambda turn: (
            len(tokenizer.encode(turn.text, add_special_tokens=False)) + TURN_OVERHEAD_TOKENS
        ),
    )
    turns = [{"role": turn.chat_role, "content": turn.text} for turn in kept]
    ids = tokenizer.apply_chat_template(
        [system, *turns, current], tokenize=True, add_generation_prompt=True
    )
    if not isinstance(ids, list):
        ids = list(ids["input_ids"])
    return ids, language


def _head(tokenizer: PreTrainedTokenizerBase, text: str, limit: int) -> str:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= limit:
        return text
    return tokenizer.decode(ids[:limit]) + " …"
