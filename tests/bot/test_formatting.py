from __future__ import annotations

import random
import re
import unicodedata

import pytest

from bot.formatting import (
    TELEGRAM_LIMIT,
    clean_incoming,
    format_answer,
    shorten,
    split_message,
    telegram_length,
)

GRINNING = "\U0001f600"  # 😀, outside the BMP: two UTF-16 units
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: emoji + skin-tone modifier
FLAG_JP = "\U0001f1ef\U0001f1f5"  # 🇯🇵: two regional indicators
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl
FIRE_HEART = "\u2764\ufe0f\u200d\U0001f525"  # heart on fire
E_ACUTE = "e\u0301"  # e + combining acute accent


def non_space(text: str) -> str:
    return "".join(text.split())


def check_chunks(text: str, chunks: list[str], limit: int) -> None:
    """The contract every split must keep."""
    for chunk in chunks:
        assert chunk, "empty chunk"
        assert chunk == chunk.strip(), "chunk with surrounding whitespace"
        assert telegram_length(chunk) <= limit
    assert non_space("".join(chunks)) == non_space(text), "content lost or reordered"


# --- telegram_length ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("", 0),
        ("abc", 3),
        ("中文", 2),
        ("é", 1),
        (E_ACUTE, 2),
        (GRINNING, 2),
        (THUMBS_MEDIUM, 4),
        (FLAG_JP, 4),
        (FAMILY, 8),
        ("a" + GRINNING * 3, 7),
        ("\ud83d", 1),  # a lone surrogate still takes one unit
    ],
)
def test_telegram_length_counts_utf16_units(text: str, units: int) -> None:
    assert telegram_length(text) == units


def test_telegram_limit() -> None:
    assert TELEGRAM_LIMIT == 4096


# --- split_message: exact sizes ----------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\n \t "])
def test_blank_text_gives_no_chunks(text: str) -> None:
    assert split_message(text) == []


def test_short_text_is_one_stripped_chunk() -> None:
    assert split_message("  hello\n\nworld \n") == ["hello\n\nworld"]


def test_exactly_the_limit_is_one_chunk() -> None:
    text = "a" * 4096
    assert split_message(text) == [text]


def test_one_over_the_limit_without_boundaries_is_hard_cut() -> None:
    assert split_message("a" * 4097) == ["a" * 4096, "a"]


def test_emoji_count_two_units_each() -> None:
    assert split_message(GRINNING * 2048) == [GRINNING * 2048]
    assert split_message(GRINNING * 2048 + "a") == [GRINNING * 2048, "a"]
    # 1 + 2 × 2048 = 4097 units: the last emoji no longer fits and is not cut in half.
    assert split_message("a" + GRINNING * 2048) == ["a" + GRINNING * 2047, GRINNING]


def test_bmp_chinese_counts_one_unit_each() -> None:
    text = "好" * 4096
    assert split_message(text) == [text]
    assert split_message(text + "好") == ["好" * 4096, "好"]


def test_limit_must_hold_one_emoji() -> None:
    with pytest.raises(ValueError, match="limit"):
        split_message("abc", limit=1)
    assert split_message(GRINNING * 3, limit=2) == [GRINNING] * 3


# --- split_message: where it cuts ---------------------------------------------------------


def words(count: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 9)))
        for _ in range(count)
    )


def test_prefers_paragraph_boundaries() -> None:
    first, second = words(500, 1)[:3000].strip(), words(500, 2)[:3000].strip()
    text = f"{first}\n\n{second}"
    assert split_message(text) == [first, second]


def test_prefers_line_boundaries_over_sentences() -> None:
    first = "This is a sentence. " * 150 + "End of line"
    second = "Another sentence here. " * 100
    text = f"{first}\n{second}"
    assert split_message(text) == [first.strip(), second.strip()]


def test_english_sentence_boundaries() -> None:
    sentences = [f"Sentence number {n} says something polite!" for n in range(200)]
    text = " ".join(sentences)
    chunks = split_message(text, limit=1000)
    check_chunks(text, chunks, 1000)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith("Sentence number")
        assert chunk.endswith("polite!")


def test_sentence_end_needs_following_space() -> None:
    # "3.14" and "example.com" are no sentence ends; the space before "x" is the only boundary.
    text = "3.14.example.com" + " x"
    assert split_message(text, limit=17) == ["3.14.example.com", "x"]


def test_chinese_sentence_boundaries_without_spaces() -> None:
    sentence = "您好，我的订单三天了还没有发货，请问什么时候能到？"
    text = (sentence + "谢谢您的耐心等待。") * 300
    chunks = split_message(text)
    check_chunks(text, chunks, TELEGRAM_LIMIT)
    assert len(chunks) > 1
    for chunk in chunks[:-1]:
        assert chunk[-1] in "。？"


def test_chinese_closing_quote_stays_with_its_sentence() -> None:
    text = "他说：“好的。”" + "我" * 20
    assert split_message(text, limit=20) == ["他说：“好的。”", "我" * 20]


def test_falls_back_to_whitespace() -> None:
    text = words(2000, 3)
    chunks = split_message(text, limit=500)
    check_chunks(text, chunks, 500)
    assert [w for chunk in chunks for w in chunk.split()] == text.split()


def test_early_boundary_does_not_leave_a_tiny_chunk() -> None:
    # A paragraph break after 10 characters must not produce a 10-character message when a
    # lesser boundary much later fits as well.
    text = "Greetings!\n\n" + words(3000, 4)
    chunks = split_message(text, limit=4096)
    check_chunks(text, chunks, 4096)
    for chunk in chunks[:-1]:
        assert telegram_length(chunk) > 4096 // 2 - 10


def test_chunks_are_reasonably_full() -> None:
    text = words(20000, 5)
    chunks = split_message(text)
    check_chunks(text, chunks, TELEGRAM_LIMIT)
    for chunk in chunks[:-1]:
        assert telegram_length(chunk) >= TELEGRAM_LIMIT - 10


def test_hard_cut_keeps_flags_whole() -> None:
    # 5 units fit two regional indicators (a whole flag), 8 units "x" and three: a flag and a half.
    chunks = split_message(FLAG_JP * 3, limit=5)
    assert chunks == [FLAG_JP] * 3
    chunks = split_message("x" + FLAG_JP * 3, limit=8)
    assert chunks == ["x" + FLAG_JP, FLAG_JP * 2]


def test_hard_cut_keeps_combining_marks_with_their_letter() -> None:
    text = E_ACUTE * 10  # 20 units
    chunks = split_message(text, limit=7)
    check_chunks(text, chunks, 7)
    assert chunks == [E_ACUTE * 3, E_ACUTE * 3, E_ACUTE * 3, E_ACUTE]


@pytest.mark.parametrize("emoji", [FAMILY, FIRE_HEART, THUMBS_MEDIUM])
def test_hard_cut_keeps_emoji_sequences_whole(emoji: str) -> None:
    text = emoji * 12
    limit = telegram_length(emoji) * 2 + 1
    chunks = split_message(text, limit=limit)
    check_chunks(text, chunks, limit)
    assert all(chunk == emoji * 2 for chunk in chunks)


def test_a_grapheme_longer_than_the_limit_is_still_cut() -> None:
    zalgo = "a" + "\u0301" * 20
    chunks = split_message(zalgo, limit=8)
    check_chunks(zalgo, chunks, 8)


# --- split_message: random texts ---------------------------------------------------------

PIECES = [
    *"abcdefghijklmnopqrstuvwxyz",
    *"ABCXYZ0123",
    *"您好订单发货退款谢谢问题",
    *"。！？，",
    ".",
    "!",
    "?",
    ",",
    " ",
    " ",
    " ",
    "\n",
    "\n\n",
    "\t",
    "\u3000",
    GRINNING,
    THUMBS_MEDIUM,
    FLAG_JP,
    FAMILY,
    FIRE_HEART,
    E_ACUTE,
    "\U00020000",  # a CJK Extension B character: astral, not an emoji
]


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(PIECES, k=size))


def starts_inside_a_grapheme(chunk: str) -> bool:
    first = chunk[0]
    return unicodedata.category(first).startswith("M") or first in "\u200d\ufe0f\U0001f3fd"


@pytest.mark.parametrize("seed", range(300))
def test_random_texts_keep_the_contract(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([2, 3, 5, 16, 40, 100, 300])
    text = random_text(rng, rng.randint(0, 400))
    chunks = split_message(text, limit=limit)
    check_chunks(text, chunks, limit)
    if telegram_length(text.strip()) <= limit:
        assert chunks == ([text.strip()] if text.strip() else [])
    if limit >= 16:
        # Every grapheme in PIECES fits in 16 units, so none needs to be broken.
        assert not any(starts_inside_a_grapheme(chunk) for chunk in chunks)
        joined = "".join(chunks)
        assert joined.count(FAMILY) == text.count(FAMILY)
        assert joined.count(FLAG_JP) >= text.count(FLAG_JP)


@pytest.mark.parametrize("seed", range(5))
def test_random_long_texts_at_the_real_limit(seed: int) -> None:
    rng = random.Random(1000 + seed)
    text = random_text(rng, 20000)
    chunks = split_message(text)
    check_chunks(text, chunks, TELEGRAM_LIMIT)
    assert len(chunks) >= telegram_length(text) // TELEGRAM_LIMIT


@pytest.mark.parametrize("seed", range(20))
def test_random_texts_without_any_boundary(seed: int) -> None:
    rng = random.Random(2000 + seed)
    text = "".join(rng.choices(["x", "好", GRINNING, "\U00020000"], k=rng.randint(1, 3000)))
    limit = rng.choice([2, 3, 7, 1000])
    chunks = split_message(text, limit=limit)
    check_chunks(text, chunks, limit)
    assert "".join(chunks) == text
    # Cut as late as possible: only a two-unit character can leave one unit unused.
    for chunk in chunks[:-1]:
        assert telegram_length(chunk) >= limit - 1


# --- format_answer -----------------------------------------------------------------------


def test_format_answer() -> None:
    assert format_answer("😊", "  Thanks for writing!\n") == "😊 Thanks for writing!"
    assert format_answer("😟", "非常抱歉给您带来不便。") == "😟 非常抱歉给您带来不便。"


def test_format_answer_keeps_inner_newlines() -> None:
    assert format_answer("🙂", "Line one\n\nLine two") == "🙂 Line one\n\nLine two"


def test_format_answer_without_emoji_has_no_leading_space() -> None:
    assert format_answer("", " hi ") == "hi"


# --- clean_incoming ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hi there  ", "hi there"),
        ("你好！\n我的订单呢？", "你好！\n我的订单呢？"),
        ("a\tb", "a\tb"),
        # control characters
        ("hello\x00world", "helloworld"),
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),
        ("bell\x07", "bell"),
        ("del\x7fete", "delete"),
        ("c1\x9bcontrol\x80", "c1control"),
        ("a\x0bb\x0cc", "abc"),
        # line ends
        ("a\r\nb\rc", "a\nb\nc"),
        ("a\x85b\u2028c\u2029d", "a\nb\nc\nd"),
        # invisible characters that hide or reorder content
        ("pa\u200bss\u200cwo\u200drd", "password"),
        ("\u202eevil\u202c", "evil"),
        ("\u202a\u202b\u202dx", "x"),
        ("\u2066iso\u2067lated\u2068\u2069", "isolated"),
        ("\u200eleft\u200fright\u061c", "leftright"),
        ("\ufeffbom", "bom"),
        ("word\u2060joiner", "wordjoiner"),
        # emoji sequences keep their joiners
        (FAMILY, FAMILY),
        (FIRE_HEART, FIRE_HEART),
        (f"so happy {FAMILY}!", f"so happy {FAMILY}!"),
        ("\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f3f3\ufe0f\u200d\U0001f308"),
        (THUMBS_MEDIUM + FLAG_JP, THUMBS_MEDIUM + FLAG_JP),
        # surrogates
        ("a\ud800b", "a\ufffdb"),
        ("x\udfffy", "x\ufffdy"),
        ("\ud83d\ude00", GRINNING),
        # blank lines and trailing spaces
        ("a\n\n\n\nb", "a\n\nb"),
        ("a\n  \n \t\n\nb", "a\n\nb"),
        ("a  \nb\t\n", "a\nb"),
        ("a\n\nb", "a\n\nb"),
        ("a\r\n\r\n\r\n\r\nb", "a\n\nb"),
        ("a\n\u200b\n\u200b\nb", "a\n\nb"),
        # composed form
        (E_ACUTE, "é"),
    ],
)
def test_clean_incoming(raw: str, clean: str) -> None:
    assert clean_incoming(raw) == clean


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "\n\n\t", "\u200b\u200b", "\x00\x01\x02", "\ufe0f", "\u0301", "\u202e \u202c"],
)
def test_clean_incoming_with_nothing_meaningful(raw: str) -> None:
    assert clean_incoming(raw) == ""


FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200c\u200e-\u200f"
    "\u202a-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)
DIRTY_PIECES = [
    *PIECES,
    "\x00",
    "\x1b",
    "\x9b",
    "\r",
    "\r\n",
    "\u200b",
    "\u200d",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\ud83d",
    "\ude00",
    "\n\n\n",
    "  \n",
]


@pytest.mark.parametrize("seed", range(200))
def test_clean_incoming_random(seed: int) -> None:
    rng = random.Random(seed)
    raw = "".join(rng.choices(DIRTY_PIECES, k=rng.randint(0, 200)))
    clean = clean_incoming(raw)
    assert not FORBIDDEN.search(clean)
    assert "\n\n\n" not in clean
    assert "\r" not in clean
    assert clean == clean.strip()
    clean.encode("utf-8")  # no lone surrogates left
    assert clean_incoming(clean) == clean
    # A zero-width joiner survives only between emoji.
    for match in re.finditer("\u200d", clean):
        assert 0 < match.start() < len(clean) - 1
        assert not clean[match.start() - 1].isalnum()
        assert not clean[match.start() + 1].isalnum()


# --- shorten -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "width", "preview"),
    [
        ("hello world", 20, "hello world"),
        ("hello world", 11, "hello world"),
        ("hello world", 10, "hello wor…"),
        ("hello world foo", 7, "hello…"),
        ("  line one\n\n  line two\t", 40, "line one line two"),
        ("abcdef", 1, "…"),
        ("您好，我的订单还没有发货", 6, "您好，我的…"),
        (FLAG_JP * 3, 4, FLAG_JP + "…"),
        (E_ACUTE * 4, 4, E_ACUTE + "…"),
        ("", 5, ""),
    ],
)
def test_shorten(text: str, width: int, preview: str) -> None:
    assert shorten(text, width) == preview
    assert len(preview) <= width


def test_shorten_rejects_zero_width() -> None:
    with pytest.raises(ValueError, match="width"):
        shorten("abc", 0)
