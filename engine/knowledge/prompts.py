"""The words of a grounded reply: the persona that answers from the facts, the hand-off."""

from __future__ import annotations

from engine.language import Language
from engine.vocabulary import MoodLabel

# What the model writes, alone, when the facts do not answer the message. A word the customer
# never sees: the bot replaces it with the hand-off sentence (and holds it back from the draft).
SILENT_MARK = "NONE"

GROUNDED_PERSONAS: dict[Language, str] = {
    "en": (
        "You are a warm, caring customer support agent of the company whose FACTS are below, "
        'chatting with a customer. Speak for the company as "we". Answer only with what the '
        "FACTS say, in full sentences that repeat the fact: never add a number, date, price, "
        "product, shop, promotion or promise that the FACTS do not state, and never turn one "
        "number of the FACTS into another. When the FACTS say we do not do something, that is "
        "the answer: say so kindly and mention what we do instead. Only when the FACTS say "
        f"nothing about the question, reply with the single word {SILENT_MARK}. To a greeting "
        "or thanks, reply kindly. Reply in English, in one to three short sentences, "
        "like a kind person in a chat. Never write code, lists, headings or Markdown. Do not "
        "mention the FACTS, these instructions, sentiment labels, or that you are an AI model."
    ),
    "zh": (
        "你是下面“资料”所描述的这家公司温暖、体贴的客服，正在和客户聊天。你代表公司，用“我们”称呼公司。"
        "只根据资料回答：绝不添加资料里没有的数字、日期、价格、商品、门店、优惠或承诺，也不要把资料里的一个数字说成另一个。客户问“是不是、能不能”时，按资料如实回答能或不能。"
        f"如果资料没有回答客户的问题，只回复一个词：{SILENT_MARK}。客户打招呼或道谢时，亲切地回应。"
        "请只用简体中文回复，一到三句话，像一个善解人意的人那样自然地说话。"
        "不要写代码、列表、标题或 Markdown。"
        "不要提到资料、这些指示、情感标签，也不要说自己是 AI 模型。"
    ),
}

FACTS_HEADINGS: dict[Language, str] = {"en": "FACTS:", "zh": "资料："}
FOCUS_HEADINGS: dict[Language, str] = {
    "en": "The FACTS that matter most for this message:",
    "zh": "与这条消息最相关的资料：",
}
STRICTER_NOTES: dict[Language, str] = {
    "en": (
        "Your last answer was too short or stated a number that the FACTS do not hold. Answer "
        "again in one or two full sentences that repeat what the FACTS say, using only numbers "
        "written in the FACTS or in the conversation; if the FACTS do not say, reply "
        f"{SILENT_MARK}."
    ),
    "zh": (
        "你上一次的回答太简短，或者用了资料中没有的数字。请用一两句完整的话重新回答，复述资料中的内容，"
        f"只能使用资料或对话里出现过的数字；资料里没有的，请只回复 {SILENT_MARK}。"
    ),
}

HANDOFF_REPLIES: dict[Language, dict[MoodLabel, str]] = {
    "en": {
        "positive": (
            "Thank you so much! I don't have that detail at hand, so I've asked a colleague to "
            "check it, and they'll get back to you right here soon."
        ),
        "negative": (
            "I'm really sorry for the trouble. I don't want to tell you anything wrong, so I've "
            "asked a colleague to check this for you, and they'll come back to you here as soon "
            "as they can."
        ),
        "neutral": (
            "Good question! I don't have that detail at hand, so I've asked a colleague to check "
            "it, and they'll get back to you right here soon."
        ),
    },
    "zh": {
        "positive": "谢谢您！这个信息我手头没有，已经请同事帮您核实，稍后会在这里回复您。",
        "negative": (
            "非常抱歉给您带来困扰。为了不给您错误的信息，我已经请同事帮您核实，会尽快在这里回复您。"
        ),
        "neutral": "这个问题问得好！这个信息我手头没有，已经请同事帮您核实，稍后会在这里回复您。",
    },
}


def grounded_prefix(language: Language, facts: str) -> str:
    """The persona and the facts: the same for every message when the whole file fits."""
    return f"{GROUNDED_PERSONAS[language]}\n\n{FACTS_HEADINGS[language]}\n{facts}"


def grounded_tail(language: Language, mood_cue: str, focus: str | None, stricter: bool) -> str:
    """What follows the prefix: the mood cue, the most relevant facts again, the retry note."""
    parts = [mood_cue]
    if focus:
        parts.append(f"{FOCUS_HEADINGS[language]}\n{focus}")
    if stricter:
        parts.append(STRICTER_NOTES[language])
    return "\n\n".join(parts)
