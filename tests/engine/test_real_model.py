"""The real packaged model: clear moods must be tagged right, and replies must fit."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.config import EngineConfig, SamplingConfig
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


# Written for these tests, not taken from any data set: the kinds of complaint the mood missed
# (rhetorical questions, sarcasm, a story of what went wrong, a polite opening that turns).
ANGRY_CHINESE = [
    "这不是骗人吗？说好三天到货，现在一个星期了连个影子都没有。",
    "你们的客服是摆设吗？打了五次电话都没人接。",
    "凭什么运费要我来出？明明是你们发错了货。",
    "花了八百块买的耳机，戴了两天右耳就没声音了，这就是你们说的旗舰品质？",
    "好一个七天无理由退货，我申请了三次都被驳回。",
    "上周六我下单买了一台咖啡机，周一收到发现盒子是破的，玻璃壶碎了。客服让我拍视频，"
    "拍了又说看不清，到现在还没人处理。",
    "师傅说上午来安装，中午说下午来，下午又说明天，第二天说没排上。我请了两天假，就这么白白浪费了。",
    "你好，我一直很信任你们店，可这次的衣服和图片完全不一样，颜色差很多，线头到处都是。",
    "您好，麻烦问一下，我的退款申请半个月了为什么还没到账？你们到底还想拖多久？",
    "谢谢您的回复，不过这已经是第三次让我耐心等待了，我的耐心已经用完了。",
    "我就想问问，你们到底有没有人管？订单卡在待发货五天了。",
    "本来是给孩子买的生日礼物，结果生日都过了东西还没到，孩子哭了一晚上。",
]

# Praise of a failure: the 1.5B model reads the praise (+6 to +7.5 log-odds towards positive on
# every prompt tried for issue 11, few-shot examples of sarcasm included).
SARCASTIC_PRAISE_CHINESE = [
    "真是谢谢你们了，让我在雨里等了两个小时的快递。",
    "呵呵，买了不到一周就坏了，质量真是好啊。",
]

CALM_CHINESE_QUESTIONS = [
    "请问周末几点开门？",
    "我想把收货地址改成公司的地址，可以吗？",
    "这款外套有没有大一号的？",
    "请问可以开发票吗？",
    "你们支持货到付款吗？",
    "请问这件衬衫是纯棉的吗？",
]


async def test_angry_chinese_customers_are_read_as_negative(real_engine: MoodEngine) -> None:
    moods = await real_engine.classify_many(ANGRY_CHINESE)
    missed = [
        (text, mood)
        for text, mood in zip(ANGRY_CHINESE, moods, strict=True)
        if mood.label != "negative"
    ]
    assert not missed, missed


@pytest.mark.xfail(strict=True, reason="the default model takes sarcastic praise at its word")
async def test_sarcastic_praise_is_read_as_negative(real_engine: MoodEngine) -> None:
    moods = await real_engine.classify_many(SARCASTIC_PRAISE_CHINESE)
    assert [mood.label for mood in moods] == ["negative"] * len(SARCASTIC_PRAISE_CHINESE), moods


async def test_calm_chinese_questions_are_neutral(real_engine: MoodEngine) -> None:
    moods = await real_engine.classify_many(CALM_CHINESE_QUESTIONS)
    assert [mood.label for mood in moods] == ["neutral"] * len(CALM_CHINESE_QUESTIONS), moods


# Written for these tests (none is from the intent dev set): one clear request per intent.
CLEAR_INTENTS = [
    ("Where is my order 88213? It was supposed to arrive yesterday.", "order_status"),
    ("我上周买的东西到现在还没到，订单号 20931，帮我查一下到哪了", "order_status"),
    ("I received the wrong colour and want to send it back for a refund.", "returns"),
    ("收到的杯子是碎的，我要退款", "returns"),
    ("Please cancel my order, I bought it by mistake.", "order_change"),
    ("我想把刚下的订单的收货地址改一下", "order_change"),
    ("Do you accept PayPal?", "payment"),
    ("可以开增值税发票吗？", "payment"),
]


@pytest.mark.parametrize(("text", "expected"), CLEAR_INTENTS)
async def test_clear_intents_are_read_beside_the_mood(
    real_engine: MoodEngine, text: str, expected: str
) -> None:
    mood = await real_engine.classify(text)
    assert mood.intent is not None and mood.intent.name == expected, mood


def _is_fallback(reply: str) -> bool:
    return any(reply in by_mood.values() for by_mood in FALLBACKS.values())


async def test_chinese_message_gets_a_chinese_reply(real_engine: MoodEngine) -> None:
    text = "今天心情很差，被你们的服务气坏了。"
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


QUANTIZATION_PROMPTS = [
    "My order arrived broken and I'm really upset.",
    "我的快递三天了还没到，怎么回事？",
    "Thanks, the new headphones sound great!",
]


@pytest.fixture(scope="module")
def int4_engine(packaged_model_dir: Path) -> Iterator[MoodEngine]:
    """The packaged model with int4 decoding (its first start quantizes it, then it is cached)."""
    engine = MoodEngine.load(EngineConfig(dtype="int4", sampling=SamplingConfig(temperature=0.0)))
    yield engine
    engine.close()


def _read_along(
    engine: MoodEngine, prompt: list[int], follow: list[int] | None = None, steps: int = 24
) -> tuple[list[int], torch.Tensor]:
    """The engine's decoder after `prompt`, one token at a time (the decode kernels, not the
    prompt ones), feeding `follow` when given, else its own greedy choices: the tokens fed and
    the next-token log-probabilities before each [steps, vocabulary]."""
    from engine.kv_cache import RowCache, causal_mask

    decoder = engine.backend.decoder
    cache = RowCache(decoder.shape, decoder.kv_dtype)
    length = len(prompt)
    hidden = decoder.hidden(
        torch.tensor([prompt]), torch.arange(length)[None, :], cache, causal_mask(0, length)
    )
    cache.advance(length)
    tokens: list[int] = []
    rows = []
    for step in range(steps if follow is None else len(follow)):
        logprobs = torch.log_softmax(decoder.logits(hidden[:, -1]).float(), dim=-1)[0]
        rows.append(logprobs)
        token = int(logprobs.argmax()) if follow is None else follow[step]
        tokens.append(token)
        position = length + step
        hidden = decoder.hidden(
            torch.tensor([[token]]), torch.tensor([[position]]), cache, causal_mask(position, 1)
        )
        cache.advance(1)
    return tokens, torch.stack(rows)


def test_int4_decoding_follows_bf16_decoding(
    real_engine: MoodEngine, int4_engine: MoodEngine
) -> None:
    """Read along the bf16 engine's greedy reply, the int4 decoder picks the same next token
    almost everywhere and finds bf16's tokens about as likely. Whole greedy texts are not
    compared: one near-tie read the other way changes every word after it."""
    from engine.reply_prompt import build_reply_prompt

    assert (real_engine.config.dtype, int4_engine.config.dtype) == ("bf16", "int4")
    tokenizer = real_engine.backend.tokenizer
    agree = total = 0
    for text in QUANTIZATION_PROMPTS:
        mood = Mood("negative", 0.9, {})
        prompt = build_reply_prompt(tokenizer, [], text, mood, 768).ids
        followed, theirs = _read_along(real_engine, prompt)
        _, ours = _read_along(int4_engine, prompt, follow=followed)
        steps = torch.arange(len(followed))
        chosen = torch.tensor(followed)
        agree += int((ours.argmax(-1) == chosen).sum())
        total += len(followed)
        # The mean log-probability of bf16's tokens under int4 stays near bf16's own.
        gap = (theirs[steps, chosen] - ours[steps, chosen]).mean().item()
        assert gap < 0.35, (text, gap)
    assert agree / total >= 0.85, (agree, total)
