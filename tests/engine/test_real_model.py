"""The real packaged model: clear moods must be tagged right, and replies must fit."""

import pytest

from engine.language import detect_language
from engine.mood_engine import MoodEngine
from engine.reply_text import FALLBACKS, LABEL_WORDS
from engine.types import Mood, Turn

pytestmark = pytest.mark.real_model

CLEAR = [
    ("Thank you so much, the replacement arrived today and it works perfectly!", "positive"),
    ("I absolutely love this store, your team is amazing.", "positive"),
    (
        "This is the third time my order is late and nobody answers my emails. I'm furious.",
        "negative",
    ),
    ("The product broke after one day, what a waste of money.", "negative"),
    ("太棒了，客服很快就帮我解决了问题，非常感谢！", "positive"),
    ("质量很好，包装也很用心，下次还会再来买。", "positive"),
    ("等了两个星期还没收到货，客服也不回消息，太让人失望了。", "negative"),
    ("东西用了一天就坏了，要求退款。", "negative"),
]


@pytest.mark.parametrize(("text", "expected"), CLEAR)
async def test_clear_moods_are_tagged_right(
    real_engine: MoodEngine, text: str, expected: str
) -> None:
    mood = await real_engine.classify(text)
    assert mood.label == expected, mood
    assert mood.confidence >= real_engine.config.neutral_threshold_for(detect_language(text))


async def test_plain_questions_are_neutral(real_engine: MoodEngine) -> None:
    moods = await real_engine.classify_many(
        [
            "What are your opening hours on Saturday?",
            "Can I change the delivery address of order 1234?",
        ]
    )
    assert [mood.label for mood in moods] == ["neutral", "neutral"], moods


def _is_fallback(reply: str) -> bool:
    return any(reply in by_mood.values() for by_mood in FALLBACKS.values())


async def test_chinese_message_gets_a_chinese_reply(real_engine: MoodEngine) -> None:
    text = "我的快递已经晚了一个星期了，真的很着急。"
    mood = await real_engine.classify(text)
    stream = real_engine.reply([], text, mood)
    deltas = [delta async for delta in stream]
    reply = await stream.text()
    assert len(deltas) > 1, "the reply should stream"
    assert detect_language(reply) == "zh", reply
    assert not _is_fallback(reply), reply
    assert not any(word in reply.lower() for word in LABEL_WORDS)


async def test_english_reply_uses_the_history(real_engine: MoodEngine) -> None:
    history = [
        Turn("user", "Hi, my name is Lena and I ordered a blue kettle."),
        Turn("assistant", "Hi Lena! Thanks for your order of the blue kettle. How can I help?"),
    ]
    mood = Mood("negative", 0.95, {"positive": 0.05, "negative": 0.95})
    stream = real_engine.reply(history, "It arrived broken and I'm really upset.", mood)
    reply = await stream.text()
    assert detect_language(reply) == "en", reply
    assert not _is_fallback(reply), reply
    # Only the history says what was ordered.
    assert "kettle" in reply.lower(), reply
    assert "```" not in reply
