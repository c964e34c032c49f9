"""A customer's words must stay words inside a prompt, whatever characters they contain."""

from __future__ import annotations

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
