import pytest

from engine.language import detect_language
from engine.reply_prompt import reply_language
from engine.types import Turn


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好，我的订单还没到", "zh"),
        ("The parcel never arrived.", "en"),
        ("我买的iPhone 15 Pro Max坏了", "zh"),
        ("I love the 包 you sent me, it is a great gift for my friend", "en"),
        ("👍👍", "en"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_reply_language_falls_back_to_the_customers_last_words() -> None:
    history = [Turn("user", "快递太慢了"), Turn("assistant", "抱歉")]
    assert reply_language(history, "😡😡😡") == "zh"
    assert reply_language([], "👍") == "en"
    assert reply_language(history, "thanks a lot") == "en"
