"""Turn raw generated text into a reply fit for a customer, or a safe fallback."""

from __future__ import annotations

import re

from engine.language import Language, detect_language
from engine.vocabulary import MoodLabel

FALLBACKS: dict[Language, dict[MoodLabel, str]] = {
    "en": {
        "positive": "That's wonderful to hear, thank you for sharing it with us!",
        "negative": (
            "I'm really sorry about this. I'm here to help, so could you tell me a little "
            "more about what happened?"
        ),
        "neutral": "Thanks for your message! How can I help you today?",
    },
    "zh": {
        "positive": "听到这个消息真开心，谢谢您和我们分享！",
        "negative": "真的很抱歉给您带来不好的体验。我在这里帮您，能再具体说说发生了什么吗？",
        "neutral": "谢谢您的留言！请问有什么可以帮您的吗？",
    },
}

# Words that must never reach a customer: the classifier's labels and prompt vocabulary.
LABEL_WORDS = ("positive", "negative", "neutral", "sentiment", "正面", "负面", "中性", "情感标签")

_MARKDOWN = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*[-*•]\s+|^\s*\d+[.)]\s+)", re.MULTILINE)
_LABEL_PREFIX = re.compile(
    r"^\s*[\[(【]?\s*(positive|negative|neutral|正面|负面|中性)\s*[\])】]?\s*[:：-]?\s*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?。！？~…)）」』\"”]")
# A sentence ends at 。！？, or at .!? before a space or the end; "2.5 kg" stays whole.
_SENTENCE_BREAK = re.compile(r"[。！？]+[”’」』）)]*|[.!?]+[\"'”’)]*(?=\s|$)")
MAX_SENTENCES = 3
_REPEAT = re.compile(r"(.{4,}?)\1{3,}", re.DOTALL)


def is_degenerate(text: str) -> bool:
    """Empty, wordless, looping, or code rather than a chat reply."""
    if not any(char.isalpha() for char in text):
        return True
    if _REPEAT.search(text):
        return True
    return "```" in text or "def " in text or "import " in text


def _trim_unfinished(text: str) -> str:
    """Cut a reply that ran into the token limit back to its last full sentence."""
    if _SENTENCE_END.search(text[-1:]):
        return text
    last = max((m.end() for m in _SENTENCE_END.finditer(text)), default=0)
    return text[:last] if last >= len(text) // 3 else text


def _first_sentences(text: str, count: int) -> str:
    ends = [match.end() for match in _SENTENCE_BREAK.finditer(text)]
    return text[: ends[count - 1]].strip() if len(ends) > count else text


def finish_reply(raw: str, language: Language, mood: MoodLabel, hit_limit: bool) -> str:
    """The customer-facing reply: plain text, in the customer's language, or a fallback."""
    if is_degenerate(raw):
        return FALLBACKS[language][mood]
    text = _LABEL_PREFIX.sub("", raw.strip())
    text = _MARKDOWN.sub("", text)
    # A chat reply is prose: lines (what is left of a list) run on as one paragraph.
    text = re.sub(r"\s*\n\s*", "" if language == "zh" else " ", text).strip()
    if hit_limit:
        text = _trim_unfinished(text)
    text = _first_sentences(text, MAX_SENTENCES)
    lowered = text.lower()
    if any(word in lowered for word in LABEL_WORDS):
        return FALLBACKS[language][mood]
    if not text or detect_language(text) != language:
        return FALLBACKS[language][mood]
    return text
