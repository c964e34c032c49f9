"""Everything the bot itself (not the model) says to customers, in English and Chinese."""

from __future__ import annotations

from engine.language import Language
from engine.vocabulary import MOOD_EMOJI

TEXTS: dict[str, dict[Language, str]] = {
    "rate_ask": {
        "en": "How did we do? Please rate this conversation: 1 (poor) to 5 (great).",
        "zh": "我们做得怎么样？请为本次对话打分：1（差）到 5（很好）。",
    },
    "rate_thanks": {
        "en": "Thank you for your rating: {stars}",
        "zh": "感谢您的评分：{stars}",
    },
    "holding": {
        "en": "One moment please: a colleague is checking my answer for you.",
        "zh": "请稍等，同事正在为您确认我的回复。",
    },
    "start": {
        "en": (
            "Hi {name}! I'm the support assistant of this service. Write to me in English or "
            "Chinese and I'll do my best to help.\n\n"
            "What I store: your messages and my answers, the mood I noticed in each message "
            "({emoji[positive]} positive, {emoji[negative]} negative, {emoji[neutral]} neutral) "
            "and your Telegram name, so that I remember our conversation and our team can see "
            "how customers feel. Our support team may read our conversation in their own chat "
            "and answer you themselves.\n\n"
            "/reset starts a fresh conversation, /forget deletes everything about you (in the "
            "team's chat too), /help lists all commands."
        ),
        "zh": (
            "您好，{name}！我是本服务的客服助手，您可以用中文或英文和我聊天。\n\n"
            "我会保存：您的消息和我的回复、"
            "我从每条消息中感受到的情绪（{emoji[positive]} 正面、{emoji[negative]} 负面、"
            "{emoji[neutral]} 中性）以及您的 "
            "Telegram 名字，这样我能记住我们的对话，团队也能了解客户的感受。"
            "客服团队可能会在他们的群里查看我们的对话，并亲自回复您。\n\n"
            "/reset 开始新的对话，/forget 删除关于您的所有数据（包括团队群里的记录），"
            "/help 查看全部命令。"
        ),
    },
    "help": {
        "en": (
            "Just write to me and I'll answer. Commands:\n"
            "/reset – start a fresh conversation (your mood history stays)\n"
            "/cancel – stop the answer I'm writing\n"
            "/mood – your recent moods as I saw them\n"
            "/forget – delete everything stored about you\n"
            "/help – this message"
        ),
        "zh": (
            "直接给我发消息，我就会回复。命令：\n"
            "/reset – 开始新的对话（情绪记录会保留）\n"
            "/cancel – 停止我正在写的回复\n"
            "/mood – 查看我感受到的您最近的情绪\n"
            "/forget – 删除关于您的所有数据\n"
            "/help – 显示本帮助"
        ),
    },
    "reset_done": {
        "en": "Done, we're starting fresh. I won't use our earlier messages any more.",
        "zh": "好的，我们重新开始吧。之前的对话我不会再参考了。",
    },
    "cancelled": {"en": "Okay, I stopped that answer.", "zh": "好的，已停止这条回复。"},
    "nothing_to_cancel": {"en": "There's no answer in progress.", "zh": "目前没有正在生成的回复。"},
    "mood_empty": {
        "en": "I haven't seen any of your messages yet.",
        "zh": "我还没有收到过您的消息。",
    },
    "mood_header": {"en": "Your recent moods, newest first:", "zh": "您最近的情绪（最新的在前）："},
    "forget_confirm": {
        "en": "This deletes all your messages, my answers and your mood history. Are you sure?",
        "zh": "这将删除您的所有消息、我的回复和情绪记录。确定吗？",
    },
    "forget_yes": {"en": "Yes, delete everything", "zh": "确定删除"},
    "forget_no": {"en": "No, keep it", "zh": "不，保留"},
    "forget_done": {
        "en": "Everything about you is deleted ({count} messages). Write any time to start over.",
        "zh": "已删除关于您的全部数据（{count} 条消息）。随时发消息即可重新开始。",
    },
    "forget_kept": {"en": "Okay, nothing was deleted.", "zh": "好的，没有删除任何数据。"},
    "button_refused": {
        "en": "Sorry, this button doesn't work (any more).",
        "zh": "抱歉，此按钮无效或已失效。",
    },
    "unknown_command": {
        "en": "I don't know that command. /help lists the ones I have, or just write to me.",
        "zh": "我不认识这个命令。/help 可以查看我支持的命令，或者直接给我发消息。",
    },
    "not_text": {
        "en": "Sorry, I can only read text messages. Could you write it down for me?",
        "zh": "抱歉，我只能看懂文字消息。可以用文字告诉我吗？",
    },
    "empty": {
        "en": "Your message looks empty. What would you like to tell me?",
        "zh": "您的消息好像是空的。想和我说些什么呢？",
    },
    "not_allowed": {
        "en": "Sorry, this assistant is only available to registered customers.",
        "zh": "抱歉，此助手仅向注册客户开放。",
    },
    "failed": {
        "en": "Sorry, something went wrong on my side. I'll answer as soon as I can.",
        "zh": "抱歉，我这边出了点问题，会尽快回复您。",
    },
}


def text(key: str, language: Language, **values: object) -> str:
    """The text in `language` with `values` filled in; "{emoji[negative]}" in a text stands
    for that mood's emoji."""
    return TEXTS[key][language].format(emoji=MOOD_EMOJI, **values)


def ui_language(language_code: str | None) -> Language:
    """The language of the bot's own messages, from the customer's Telegram settings."""
    return "zh" if language_code and language_code.lower().startswith("zh") else "en"


# The bot's command menu, per Telegram language code ("" is the default for everyone else).
COMMAND_MENU: dict[str, list[tuple[str, str]]] = {
    "": [
        ("start", "What this bot does and stores"),
        ("help", "How to use the bot"),
        ("reset", "Start a fresh conversation"),
        ("cancel", "Stop the answer in progress"),
        ("mood", "Your recent moods"),
        ("forget", "Delete everything stored about you"),
    ],
    "zh": [
        ("start", "介绍与数据说明"),
        ("help", "使用帮助"),
        ("reset", "开始新的对话"),
        ("cancel", "停止正在生成的回复"),
        ("mood", "查看最近的情绪"),
        ("forget", "删除关于您的所有数据"),
    ],
}
