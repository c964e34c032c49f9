"""A fake Telegram Bot API server for the bot's end-to-end tests and its load benchmark.

    async with FakeTelegram() as fake:               # same event loop as the test
        app = Application.builder().token(fake.token).base_url(fake.base_url).build()
        ...
        fake.send_text(1001, 1001, "hello")          # a customer writes to the bot
        [reply] = await fake.wait_for_messages(1001, 1)

    with FakeTelegram() as fake:                     # served from a background thread
        subprocess.Popen([... bot ..., f"--telegram-base-url={fake.base_url}"])
        fake.send_text(1001, 1001, "hello")
        fake.wait_for_messages_sync(1001, 1)

Forum topics: `add_chat(id, "supergroup")` then `make_forum(id)` (the bot manages topics);
the bot's createForumTopic/editForumTopic/deleteForumTopic and `message_thread_id` on sends
behave as on Telegram; `send_text(..., message_thread_id=...)` writes in a topic, `delete_topic`
deletes one by hand, `topics(chat)` and `messages(chat, thread=...)` read them back.

`python -m bench.fake_telegram` serves one standalone and lets you chat with the bot from a
terminal.
"""

from ._text import JSONDict, utf16_len
from .records import (
    BotMessage,
    Call,
    CallbackAnswer,
    ChatAction,
    Draft,
    ForumTopic,
    Revision,
    Upload,
)
from .server import DEFAULT_TOKEN, ChatType, FakeTelegram

__all__ = [
    "DEFAULT_TOKEN",
    "BotMessage",
    "Call",
    "CallbackAnswer",
    "ChatAction",
    "ChatType",
    "Draft",
    "FakeTelegram",
    "ForumTopic",
    "JSONDict",
    "Revision",
    "Upload",
    "utf16_len",
]
