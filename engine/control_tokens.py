"""A customer's words must stay words inside a prompt, whatever characters they contain."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # For annotations only: the OpenAI backend uses this module without transformers loaded.
    from transformers import PreTrainedTokenizerBase

# After the first character of a control token's spelling it keeps the tokenizer from matching
# the token, while the model still reads much the same characters.
_WORD_JOINER = "\u2060"


def defuse_control_tokens(tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """`text` with the spelling of each of the tokenizer's added tokens ("<|im_start|>",
    "<|im_end|>", "<tool_call>", …) broken up. The tokenizer matches those spellings anywhere,
    so a message could otherwise end its own turn and write the system's or the assistant's."""
    for token in tokenizer.added_tokens_encoder:
        if len(token) > 1 and token in text:
            text = text.replace(token, token[0] + _WORD_JOINER + token[1:])
    return text


# Without the server's tokenizer: the spellings Qwen-family tokenizers (and most chat models)
# give their added tokens: "<|im_start|>", "<|endoftext|>", "<|fim_middle|>", and the bare tags
# of tool calls and reasoning ("<tool_call>", "</think>", …).
_CONTROL_SPELLINGS = re.compile(
    r"<\|[A-Za-z0-9_]{1,40}\|>|</?(?:tool_call|tool_response|tools|think|answer)>"
)


def defuse_control_spellings(text: str) -> str:
    """`text` with every control-token spelling broken up, for a model behind a server whose
    tokenizer is not at hand: the server renders the chat template and tokenizes the whole,
    where these spellings would otherwise become control tokens."""
    return _CONTROL_SPELLINGS.sub(lambda found: found[0][0] + _WORD_JOINER + found[0][1:], text)
