"""The number guard: every number in a reply must come from the facts or the conversation.

Numbers are compared by value, whatever their spelling: "1,000", "1000" and "一千" are one
number, as are "7 天" and "七天" or "three years" and "3 years". Times, prices, phone numbers and
order ids are runs of digits and are checked part by part ("400-820-1234" → 400, 820, 1234).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

_DIGITS = re.compile(r"\d+(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?")
_CHINESE_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CHINESE_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
_CHINESE_RUN = re.compile(f"[{''.join(_CHINESE_DIGITS)}{''.join(_CHINESE_UNITS)}]+")
# Words in which a Chinese numeral is no number: "一下" (a moment), "十分" (very), "万一" (in case).
_CHINESE_WORDS = re.compile(
    "一下|一些|一点|一直|一样|一定|一起|一切|一般|一旦|一致|一会|一同|一向|一律|一并|一边|一方面|"
    "统一|唯一|万一|十分|千万|万分|一一|逐一|之一|一个|一位|一份"
)
_ENGLISH = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}  # fmt: skip
_ENGLISH_WORD = re.compile(r"\b(" + "|".join(_ENGLISH) + r")\b", re.IGNORECASE)


def _from_digits(spelled: str) -> str | None:
    try:
        return format(Decimal(spelled.replace(",", "")).normalize(), "f")
    except InvalidOperation:
        return None


def chinese_value(spelled: str) -> int:
    """一百五十 → 150, 两千 → 2000, 十二 → 12, 一五零 (digit by digit) → 150."""
    if all(char in _CHINESE_DIGITS for char in spelled):
        return int("".join(str(_CHINESE_DIGITS[char]) for char in spelled))
    total = section = digit = 0
    for char in spelled:
        if char in _CHINESE_DIGITS:
            digit = _CHINESE_DIGITS[char]
        elif _CHINESE_UNITS[char] >= 10_000:
            total += (section + digit) * _CHINESE_UNITS[char]
            section = digit = 0
        else:
            section += (digit or 1) * _CHINESE_UNITS[char]
            digit = 0
    return total + section + digit


def numbers_in(text: str) -> set[str]:
    """Every number the text states, each as its canonical value ("1.8", "150", "9")."""
    found: set[str] = set()
    for match in _DIGITS.finditer(text):
        value = _from_digits(match.group())
        if value is not None:
            found.add(value)
    for match in _CHINESE_RUN.finditer(_CHINESE_WORDS.sub(" ", text)):
        spelled = match.group()
        if spelled != "一":
            found.add(str(chinese_value(spelled)))
    for match in _ENGLISH_WORD.finditer(text):
        found.add(str(_ENGLISH[match.group().lower()]))
    return found


def invented_numbers(reply: str, sources: Iterable[str]) -> set[str]:
    """The numbers of `reply` that none of `sources` (facts, conversation, message) states."""
    allowed: set[str] = set()
    for source in sources:
        allowed |= numbers_in(source)
    return numbers_in(reply) - allowed
