"""What a negative message complains about: 1–4 short keywords in the customer's language
(like the `keywords` field of sentiment APIs), written by the model at low priority so that no
mood or reply ever waits for them."""

from __future__ import annotations

import re

from engine.control_tokens import defuse_control_spellings
from engine.language import Language, detect_language
from engine.protocol import Engine

MAX_KEYWORDS = 4
MAX_KEYWORD_CHARS = 24
MAX_NEW_TOKENS = 24
# Long messages are cut: the complaint is nearly always said early, and the prompt stays cheap.
MAX_MESSAGE_CHARS = 600

PROMPTS: dict[Language, tuple[str, str]] = {
    "en": (
        "You extract what a customer complains about. Answer with 1 to 4 short keywords "
        "(nouns, one or two words each), separated by commas, and nothing else.",
        "Customer message: {text}\nKeywords:",
    ),
    "zh": (
        "你负责提取客户抱怨的内容。用1到4个简短的关键词（名词）回答，用逗号分隔，不要写别的。",
        "客户留言：{text}\n关键词：",
    ),
}

_SEPARATORS = re.compile(r"[,，、;；\n]|\s/\s")
# A leading "Keywords:", a list bullet or number, and quotes around a keyword.
_LABEL = re.compile(r"^\s*(keywords?|关键词)\s*[:：]\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)、])\s*")
_QUOTES = "\"'“”‘’「」《》`"


def keyword_messages(text: str) -> list[dict[str, str]]:
    """The chat that asks for the keywords; a customer's spelling of a control token stays
    text (the chat is rendered and tokenized whole), so it cannot end the turn or steer it."""
    system, user = PROMPTS[detect_language(text)]
    customer = defuse_control_spellings(text[:MAX_MESSAGE_CHARS])
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user.format(text=customer)},
    ]


def parse_keywords(output: str) -> list[str]:
    """The keywords in the model's answer: at most MAX_KEYWORDS, each short, without labels,
    bullets, quotes or repeats; none when the answer is not a keyword list at all."""
    found: list[str] = []
    for piece in _SEPARATORS.split(_LABEL.sub("", output.strip())):
        word = _BULLET.sub("", piece).strip().strip(_QUOTES).strip(" .。!！?？")
        if not word or len(word) > MAX_KEYWORD_CHARS or _LABEL.match(word + ":"):
            continue
        if word.lower() not in (seen.lower() for seen in found):
            found.append(word)
        if len(found) == MAX_KEYWORDS:
            break
    return found


async def complaint_keywords(engine: Engine, text: str) -> list[str]:
    output = await engine.complete(
        keyword_messages(text), max_new_tokens=MAX_NEW_TOKENS, low_priority=True
    )
    return parse_keywords(output)
