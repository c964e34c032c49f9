"""Which language a customer writes in: Chinese or English (the two moodbot answers in)."""

from __future__ import annotations

from typing import Literal

Language = Literal["zh", "en"]


def _is_han(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK Unified Ideographs
        or 0x3400 <= code <= 0x4DBF  # Extension A
        or 0xF900 <= code <= 0xFAFF  # Compatibility Ideographs
        or 0x20000 <= code <= 0x2FA1F  # Extensions B and later
    )


def detect_language(text: str) -> Language:
    """Chinese when Han characters make up a fair share of the letters, else English.

    A Chinese message often carries Latin brand names or product codes, so a few Han
    characters among many Latin letters still mean Chinese; one stray character does not.
    """
    han = sum(1 for char in text if _is_han(char))
    latin = sum(1 for char in text if char.isascii() and char.isalpha())
    # Four Han characters already make a Chinese phrase; fewer count when Latin letters are
    # scarce too (a Han character carries about as much as an English word of ~5 letters,
    # so at a tenth of the letters the Chinese is still half of what is said).
    return "zh" if han >= 4 or (han > 0 and han * 10 >= latin) else "en"
