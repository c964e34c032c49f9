"""The words of grounded answers: picking the evidence, answering from it, handing off."""

from __future__ import annotations

from engine.language import Language
from engine.vocabulary import MoodLabel

# The pick: the model reads the numbered candidates, then the customer's message, and its first
# answer token is the number of the statement that answers (0: none does).
PICK_INSTRUCTIONS: dict[Language, str] = {
    "en": (
        "You are a support assistant. Below are numbered sentences from our company's facts. "
        "Which sentence directly answers the customer's message? Answer with its number only; "
        "if none of them answers it, answer 0."
    ),
    "zh": (
        "你是客服助手。下面是公司资料中的编号句子。请判断哪一句直接回答了顾客的问题，只回答它的编号；"
        "如果没有任何一句能回答，回答 0。"
    ),
}
# Whether the message wants anything from us at all: a thank-you or a feeling without a question
# is answered warmly without facts, never handed off. The question follows the message (in the
# pick's prompt, after a task of answering with a number, the yes/no answer did not depend on
# the message). Asked "does it hold a question for us", the 1.5B model separated 10 questions
# from 11 feelings and thanks with AUC 0.97; asked "does it ask for information about our
# company...", it answered yes to nearly everything.
ASKS_INSTRUCTIONS: dict[Language, str] = {
    "en": "You are a support assistant of our company.",
    "zh": "你是我们公司的客服助手。",
}
# What precedes the customer's message in the asks prompt's user turn (a line of its own: the
# message's tokens are the same as when it stands alone).
MESSAGE_LEADS: dict[Language, str] = {
    "en": "Customer message:\n",
    "zh": "顾客消息：\n",
}
ASKS_QUESTIONS: dict[Language, str] = {
    "en": "Does this message contain a question for us? Answer yes or no.",
    "zh": "这条消息里有向我们提出的问题吗？只回答 是 或 否。",
}
# The focused check of the picked statement, asked after the same reading of the message: the
# pick says which statement fits best, this whether it answers at all ("How much does the AC-12
# cost?" picks the AC-12's sentence, which holds no price).
VERIFY_QUESTIONS: dict[Language, str] = {
    "en": (
        "A sentence from our facts: {statement}\n\nDoes this sentence answer the customer's "
        "message? Answer yes or no."
    ),
    "zh": "公司资料中的一句话：{statement}\n\n这句话回答了顾客的消息吗？只回答 是 或 否。",
}

GROUNDED_PERSONAS: dict[Language, str] = {
    "en": (
        "You are a warm, caring customer support agent of this company, chatting with a "
        'customer. Speak for the company as "we". When a FACT follows the customer\'s message, '
        "answer with it: say what it says in full sentences, never add a number, date, price, "
        "product, place or promise that it does not state, and never turn one of its numbers "
        "into another. When the FACT says we do not do something, that is the answer: say so "
        "kindly. Without a FACT, do not state anything about the company, its products, prices, "
        "policies or delivery; just reply kindly. Reply in English, in one to three short "
        "sentences, like a kind person in a chat. Never write code, lists, headings or "
        "Markdown. Do not mention the FACT, these instructions, sentiment labels, or that you "
        "are an AI model."
    ),
    "zh": (
        "你是这家公司温暖、体贴的客服，正在和客户聊天。你代表公司，用“我们”称呼公司。"
        "客户消息后面给出“资料”时，就用它来回答：用完整的句子说出资料的内容，绝不添加资料里没有的数字、"
        "日期、价格、商品、地点或承诺，也不要把资料里的一个数字说成另一个。资料说我们不做某件事时，"
        "这就是答案：请委婉地如实告诉客户。没有资料时，不要说任何关于公司、商品、价格、政策或配送的内容，"
        "只需亲切地回应。请只用简体中文回复，一到三句话，像一个善解人意的人那样自然地说话。"
        "不要写代码、列表、标题或 Markdown。"
        "不要提到资料、这些指示、情感标签，也不要说自己是 AI 模型。"
    ),
}
EVIDENCE_HEADINGS: dict[Language, str] = {"en": "FACT:", "zh": "资料："}
STRICTER_NOTES: dict[Language, str] = {
    "en": (
        "Your last answer did not say what the FACT says. Answer again in one or two full "
        "sentences that repeat the FACT, with only its numbers; if it says we do not do "
        'something, do not answer "yes".'
    ),
    "zh": (
        "你上一次的回答没有说出资料的内容。请用一两句完整的话重新回答，复述资料，只用资料里的数字；"
        "资料说我们不做的事，不要回答“可以”或“是的”。"
    ),
}
# When the model fails twice, the customer gets the statement itself in a warm frame: a covered
# question never ends in a wrong answer.
EVIDENCE_FRAMES: dict[Language, dict[MoodLabel, str]] = {
    "en": {
        "positive": "Happy to help! Here is what I can tell you: {statement}",
        "negative": "I'm sorry for the trouble. Here is what I can tell you: {statement}",
        "neutral": "Here is what I can tell you: {statement}",
    },
    "zh": {
        "positive": "很高兴为您解答！我能告诉您的是：{statement}",
        "negative": "非常抱歉给您带来困扰。我能告诉您的是：{statement}",
        "neutral": "我能告诉您的是：{statement}",
    },
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


def evidence_note(language: Language, statements: list[str], stricter: bool) -> str:
    """What follows the message's mood cue: the picked statement(s), and a retry's note."""
    lines = [EVIDENCE_HEADINGS[language], *statements]
    if stricter:
        lines += ["", STRICTER_NOTES[language]]
    return "\n".join(lines)


def evidence_frame(language: Language, mood: MoodLabel, statement: str) -> str:
    return EVIDENCE_FRAMES[language][mood].format(statement=statement)


def handoff_reply(language: Language, mood: MoodLabel) -> str:
    return HANDOFF_REPLIES[language][mood]
