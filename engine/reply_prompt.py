"""The chat the model continues to write its reply: persona, history, new message, mood cue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # For annotations only: the OpenAI backend uses this module without transformers loaded.
    from transformers import PreTrainedTokenizerBase

from engine.control_tokens import defuse_control_tokens
from engine.language import Language, detect_language
from engine.prompts import mood_cue, reply_system_prompt
from engine.types import Mood, Turn
from engine.vocabulary import MoodLabel

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
    """The newest turns whose cost fits the budget, opening with the customer's.

    Over budget, the oldest turns go in slices of half the budget, counted from the start of
    the history: the kept history then starts at the same turn for several turns in a row, so
    the prompt keeps its prefix (and the conversation's cache stays valid) instead of changing
    its first turn on every message."""
    costs = [cost(turn) for turn in history]
    total = sum(costs)
    start = 0
    dropped = 0.0
    slice_cost = max(budget / 2, 1.0)
    while total - dropped > budget and start < len(history):
        target = dropped + slice_cost
        while start < len(history) and dropped < target:
            dropped += costs[start]
            start += 1
    kept = list(history[start:])
    # A chat template expects the history to open with the customer, not with an answer.
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


@dataclass(frozen=True)
class ReplyPrompt:
    ids: list[int]
    language: Language
    # The leading tokens that are the same for every reply in this language (the system turn).
    shared_length: int


def reply_messages(
    kept: Sequence[Turn],
    text: str,
    mood: MoodLabel,
    language: Language,
    system: str,
    note: str = "",
) -> list[dict[str, str]]:
    """The chat: the constant system prompt, the history, the new message, each customer turn
    followed by its mood cue (a turn answered before moods were kept has none), the new one also
    by `note`. What follows a message, not in the system prompt, keeps every earlier part of the
    chat unchanged from one turn to the next, so the conversation's cached keys and values stay
    valid. An operator's turn is the assistant's for the model."""
    messages = [{"role": "system", "content": system}]
    for turn in kept:
        messages.append({"role": turn.chat_role, "content": turn.text})
        if turn.role == "user" and turn.mood is not None:
            messages.append({"role": "system", "content": mood_cue(language, turn.mood)})
    messages.append({"role": "user", "content": text})
    cue = mood_cue(language, mood)
    messages.append({"role": "system", "content": f"{cue}\n\n{note}" if note else cue})
    return messages


def chat_token_ids(
    tokenizer: PreTrainedTokenizerBase,
    messages: list[dict[str, str]],
    add_generation_prompt: bool = True,
) -> list[int]:
    rendered = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=add_generation_prompt
    )
    return list(rendered) if isinstance(rendered, list) else list(rendered["input_ids"])


def build_reply_prompt(
    tokenizer: PreTrainedTokenizerBase,
    history: Sequence[Turn],
    text: str,
    mood: Mood,
    history_tokens: int,
    system: Callable[[Language], str] | None = None,
    note: Callable[[Language], str] | None = None,
) -> ReplyPrompt:
    """Token ids of the chat to continue, keeping the newest history that fits the budget;
    `system` (the persona with the company's facts) replaces the plain persona, and `note`
    (relevant facts again, a retry's instruction) follows the message's mood cue."""
    text = defuse_control_tokens(tokenizer, text)
    history = [
        Turn(turn.role, defuse_control_tokens(tokenizer, turn.text), turn.mood) for turn in history
    ]
    language = reply_language(history, text)
    kept = recent_turns(
        history,
        history_tokens,
        lambda turn: (
            len(tokenizer.encode(turn.text, add_special_tokens=False)) + TURN_OVERHEAD_TOKENS
        ),
    )
    messages = reply_messages(
        kept,
        _head(tokenizer, text, MAX_MESSAGE_TOKENS),
        mood.label,
        language,
        system(language) if system else reply_system_prompt(language),
        note(language) if note else "",
    )
    ids = chat_token_ids(tokenizer, messages)
    shared = chat_token_ids(tokenizer, messages[:1], add_generation_prompt=False)
    shared_length = len(shared) if ids[: len(shared)] == shared else 0
    return ReplyPrompt(ids, language, shared_length)


def _head(tokenizer: PreTrainedTokenizerBase, text: str, limit: int) -> str:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= limit:
        return text
    return tokenizer.decode(ids[:limit]) + " …"
