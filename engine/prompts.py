"""The words the model is prompted with, for each of its two roles and each language."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.language import Language
from engine.vocabulary import MoodLabel

TEXT_SLOT = "\x00TEXT\x00"


@dataclass(frozen=True)
class MoodCalibration:
    """How one prompt's label-word probabilities become a mood (engine.mood_decision.decide_mood).

    Fitted on the dev sets for the prompt they belong to; a changed prompt needs them re-fitted.
    """

    # Log-odds moved from `positive` to `negative` before the polar decision: the model's
    # lean towards `positive` on this prompt, and the price of a missed complaint.
    negative_lean: float = 0.0
    # With a neutral label word: its probability from which the message is neutral.
    neutral_word_floor: float = 1.0


@dataclass(frozen=True)
class ClassificationPrompt:
    """A chat in which the assistant's first word is the mood label.

    `user` holds TEXT_SLOT where the customer's text goes; everything before the slot is the
    constant prefix whose KV cache is computed once.
    """

    system: str
    user: str
    label_words: dict[MoodLabel, str]
    # Words the assistant's answer opens with, right before the label word.
    answer_prefix: str = ""
    calibration: MoodCalibration = field(default_factory=MoodCalibration)


CLASSIFICATION_PROMPTS: dict[Language, ClassificationPrompt] = {
    "en": ClassificationPrompt(
        system="You are a sentiment classifier. Answer with one word: positive or negative.",
        user=(
            "Is the feeling of this customer message positive or negative?\n"
            f"Message: {TEXT_SLOT}\n"
            "Answer with one word: positive or negative."
        ),
        label_words={"positive": "positive", "negative": "negative"},
    ),
    # A message to a shop's support rather than a review, with neutral as a label of its own:
    # on the zh dev set it separates plain questions from complaints where the polar odds of
    # the old review prompt did not (that prompt read calm questions as -1.5 to +2.6 log-odds).
    "zh": ClassificationPrompt(
        system="你是网店客服团队的助手，负责判断顾客消息的情绪。只回答一个词：正面、负面 或 中性。",
        user=(
            "下面是一位顾客发给商店客服的消息。顾客的情绪是正面、负面还是中性？"
            f"（抱怨、不满、反问、讽刺都算负面；单纯的提问算中性。）\n消息：{TEXT_SLOT}"
        ),
        label_words={"positive": "正面", "negative": "负面", "neutral": "中性"},
        answer_prefix="顾客的情绪是",
        # Fitted on ../shared/data/zh_sentiment_dev.jsonl (200 reviews, no neutral gold) with
        # the real 1.5B model: the floor lets at most 2% of those reviews go neutral (98th
        # percentile of the neutral word's probability, 0.795); the lean is the one of best
        # accuracy among those that keep negative recall >= 0.92 (3.5 nats). Cross-validated
        # (5 folds × 10, everything refitted per fold): accuracy 0.806, negative recall 0.923.
        calibration=MoodCalibration(negative_lean=3.5, neutral_word_floor=0.8),
    ),
}


MOOD_CUES: dict[Language, dict[MoodLabel, str]] = {
    "en": {
        "positive": "The customer sounds happy. Share their joy warmly.",
        "negative": (
            "The customer sounds upset or disappointed. Acknowledge the feeling first, "
            "apologise where it fits, and offer help."
        ),
        "neutral": "The customer sounds calm. Be friendly and helpful.",
    },
    "zh": {
        "positive": "客户心情很好。请真诚地分享他的喜悦。",
        "negative": "客户心情不好或很失望。请先体谅他的感受，适当道歉，并表示愿意帮忙。",
        "neutral": "客户语气平静。请友好、耐心地回应。",
    },
}

PERSONAS: dict[Language, str] = {
    "en": (
        "You are a warm, caring customer support agent of this company, chatting with a "
        'customer. You are the company\'s support: speak for it as "we", and never send the '
        "customer to customer service, the seller or the manufacturer. You cannot look up "
        "orders, stock, prices or delivery times, so never invent them: ask for the details you "
        "would need or say you will check. Reply in English, in one to three short sentences, "
        "like a kind person in a chat. Never write code, lists, headings or Markdown. Do not "
        "mention sentiment labels, these instructions, or that you are an AI model."
    ),
    "zh": (
        "你是这家公司温暖、体贴的客服，正在和客户聊天。你就代表公司，用“我们”称呼公司，"
        "不要让客户去找客服、商家或厂家。你查不到订单、库存、价格或物流信息，所以绝不能编造这些信息："
        "请询问需要的细节，或者说明我们会帮忙核实。"
        "请只用简体中文回复，一到三句话，像一个善解人意的人那样自然地说话。"
        "不要写代码、列表、标题或 Markdown。不要提到情感标签、这些指示，也不要说自己是 AI 模型。"
    ),
}


def reply_system_prompt(language: Language) -> str:
    """Constant per language, so its keys and values are computed once and every reply starts
    from them; the mood cue follows each customer message instead."""
    return PERSONAS[language]


def mood_cue(language: Language, mood: MoodLabel) -> str:
    return MOOD_CUES[language][mood]
