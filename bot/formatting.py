"""Text in and out of Telegram: cleaning customer messages, sizing and splitting replies.

Replies go out as plain text (no parse_mode), so nothing here escapes markup.
"""

from __future__ import annotations

import re
import unicodedata

# Telegram's limit for one message, in UTF-16 code units (not Python characters).
TELEGRAM_LIMIT = 4096


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units, so an emoji outside the BMP counts 2."""
    # surrogatepass: a lone surrogate still occupies one unit instead of raising.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# Boundaries to split at, best first. Each pattern's match marks where a chunk may end: at
# match.start() for whitespace (the whitespace itself is dropped), at match.end() after a
# sentence's closing punctuation and any closing quotes or brackets.
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n")
_LINE = re.compile(r"\n")
_SENTENCE = re.compile(r"[。！？]+[”’」』）》]*|[.!?…]+[\"'”’)\]]*(?=\s)")
_WHITESPACE = re.compile(r"\s+")
_BOUNDARIES: tuple[tuple[re.Pattern[str], bool], ...] = (
    (_PARAGRAPH, False),
    (_LINE, False),
    (_SENTENCE, True),
    (_WHITESPACE, False),
)


def _fitting_prefix(text: str, limit: int) -> int:
    """The largest n such that text[:n] fits in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _extends_previous(char: str) -> bool:
    """Whether `char` belongs to the grapheme before it (a cheap subset of UAX #29)."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or code == 0x200D  # zero-width joiner
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (subdivision flags)
        or 0xDC00 <= code <= 0xDFFF  # low half of a surrogate pair kept as two code points
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _splits_grapheme(text: str, cut: int) -> bool:
    if cut <= 0 or cut >= len(text):
        return False
    before, after = text[cut - 1], text[cut]
    if _extends_previous(after) or ord(before) == 0x200D:
        return True
    if _is_regional_indicator(after) and _is_regional_indicator(before):
        # Flags are pairs of regional indicators: splitting is safe only between pairs.
        run = 0
        while run < cut and _is_regional_indicator(text[cut - 1 - run]):
            run += 1
        return run % 2 == 1
    return False


def _hard_cut(text: str, end: int) -> int:
    cut = end
    while cut > 0 and _splits_grapheme(text, cut):
        cut -= 1
    # A single "grapheme" longer than the limit (say, stacked combining marks) must still be cut.
    return cut or end


def _best_cut(text: str, end: int) -> int:
    """Where to end the next chunk of `text`, given that text[:end] is the most that fits."""
    # Peek one character past the window: "end." followed by a space is a sentence boundary.
    window = text[: end + 1]
    found: list[int] = []
    for pattern, cut_after in _BOUNDARIES:
        cuts = [m.end() if cut_after else m.start() for m in pattern.finditer(window)]
        cuts = [cut for cut in cuts if 0 < cut <= end]
        found.append(max(cuts, default=0))
    # A better kind of boundary wins unless it would leave the chunk less than half full; failing
    # that, the latest boundary of any kind makes the fullest message.
    for cut in found:
        if cut and cut >= end // 2:
            return cut
    return max(found) or _hard_cut(text, end)


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split `text` into chunks that each fit one Telegram message.

    Splits at paragraph, then line, then sentence boundaries (Chinese 。！？ and English
    .!? followed by a space), then whitespace, and only as a last resort mid-word, avoiding
    splits inside a surrogate pair or a grapheme. Whitespace at the cuts is dropped, nothing
    else; every chunk is non-empty and at most `limit` UTF-16 units. Blank text gives [].
    """
    if limit < 2:
        raise ValueError(f"limit must be at least 2 UTF-16 units (one emoji), got {limit}")
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        end = _fitting_prefix(rest, limit)
        if end == len(rest):
            chunks.append(rest)
            break
        cut = _best_cut(rest, end)
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return chunks


def format_answer(emoji: str, reply: str) -> str:
    """The final message: the mood's emoji, a space, the reply."""
    return " ".join(part for part in (emoji.strip(), reply.strip()) if part)


_NEWLINES = re.compile(r"\r\n?|[\x85\u2028\u2029]")
# C0 and C1 controls except tab and newline, and invisible characters that hide or reorder
# text: zero-width spaces and joiners, bidi marks, embeddings, overrides and isolates, the word
# joiner and the byte-order mark. A zero-width joiner inside an emoji sequence (a family, a
# rainbow flag) is part of what the customer wrote, so the first alternative matches it to keep it.
_EMOJI = "\u2600-\u27bf\U0001f000-\U0001faff"
_INVISIBLE = re.compile(
    f"(?P<emoji_joiner>(?<=[{_EMOJI}\ufe0f])\u200d(?=[{_EMOJI}]))"
    "|[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)
_TRAILING_SPACE = re.compile(r"[^\S\n]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_incoming(text: str) -> str:
    """Normalise a customer's text before it reaches the model; "" if nothing is left."""
    # Round-tripping through UTF-16 joins surrogate pairs and turns lone surrogates (which
    # Telegram's JSON can carry) into U+FFFD, so the text is encodable everywhere downstream.
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = _NEWLINES.sub("\n", text)
    text = _INVISIBLE.sub(lambda match: match["emoji_joiner"] or "", text)
    text = unicodedata.normalize("NFC", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text).strip()
    # Stray marks or variation selectors alone say nothing; letters, digits, punctuation or
    # symbols do.
    if not any(unicodedata.category(char)[0] in "LNPS" for char in text):
        return ""
    return text


def shorten(text: str, width: int) -> str:
    """A one-line preview of at most `width` characters, ending in "…" when cut."""
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    line = " ".join(text.split())
    if len(line) <= width:
        return line
    cut = _hard_cut(line, width - 1)
    return line[:cut].rstrip() + "…"
