import pytest

from engine.reply_text import FALLBACKS, finish_reply, is_degenerate


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "!!! ...",
        "hahahahahahahahahahahahahahaha",
        "```python\nprint(1)\n```",
        "sure sure sure sure sure ",
    ],
)
def test_degenerate_generations_are_recognised(raw: str) -> None:
    assert is_degenerate(raw)


def test_a_normal_reply_is_kept() -> None:
    raw = "I'm so sorry your order is late. Let me check on it for you right away."
    assert not is_degenerate(raw)
    assert finish_reply(raw, "en", "negative", hit_limit=False) == raw


def test_degenerate_reply_becomes_the_fallback_for_language_and_mood() -> None:
    assert finish_reply("", "zh", "negative", hit_limit=False) == FALLBACKS["zh"]["negative"]
    assert finish_reply("....", "en", "positive", hit_limit=False) == FALLBACKS["en"]["positive"]


def test_label_prefix_and_markdown_are_removed() -> None:
    raw = "Positive: **Thank you** so much!\n\n- We are glad you like it."
    assert finish_reply(raw, "en", "positive", hit_limit=False) == (
        "Thank you so much! We are glad you like it."
    )


def test_label_words_never_reach_the_customer() -> None:
    raw = "I can tell your sentiment is negative, sorry."
    assert finish_reply(raw, "en", "negative", hit_limit=False) == FALLBACKS["en"]["negative"]


def test_reply_in_the_wrong_language_is_replaced() -> None:
    raw = "I'm sorry to hear that, we will fix it."
    assert finish_reply(raw, "zh", "negative", hit_limit=False) == FALLBACKS["zh"]["negative"]


def test_reply_cut_by_the_token_limit_ends_on_a_full_sentence() -> None:
    raw = "谢谢您的耐心。我们已经为您加急处理，预计明天送达。另外我们还会为您"
    assert (
        finish_reply(raw, "zh", "neutral", hit_limit=True)
        == "谢谢您的耐心。我们已经为您加急处理，预计明天送达。"
    )


def test_a_list_becomes_at_most_three_sentences_of_prose() -> None:
    raw = (
        "We understand your frustration. Here is what we will do:\n"
        "1. We will check your order.\n2. We will contact the courier.\n3. We will refund you."
    )
    assert finish_reply(raw, "en", "negative", hit_limit=False) == (
        "We understand your frustration. Here is what we will do: We will check your order. "
        "We will contact the courier."
    )


def test_chinese_replies_are_capped_at_three_sentences_too() -> None:
    raw = "非常抱歉。我们马上处理！请提供订单号。我们会尽快回复您。谢谢。"
    assert (
        finish_reply(raw, "zh", "negative", hit_limit=False)
        == "非常抱歉。我们马上处理！请提供订单号。"
    )


def test_decimal_numbers_do_not_end_a_sentence() -> None:
    raw = "The 2.5 kg model is back in stock. Shall I reserve one for you?"
    assert finish_reply(raw, "en", "neutral", hit_limit=False) == raw
