"""What the fake server records about the bot's behaviour, as tests read it back.

Every inspection method of `FakeTelegram` returns deep copies of these, so a test may keep or
change them without racing the server thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from ._text import JSONDict

MessageKind = Literal["text", "photo", "document"]


class Call(NamedTuple):
    """One Bot API request as the server received it.

    `params` are decoded (numbers as int, booleans as bool, JSON-encoded objects such as
    reply_markup as dicts/lists); uploaded files appear as {"filename", "content_type", "size"}.
    `status` is the HTTP status the server answered with (200, 400, 429, 502, ...).
    """

    method: str
    params: JSONDict
    at: float
    status: int


@dataclass
class Revision:
    """One version of a bot message: the original or the result of one edit."""

    text: str
    """What the chat shows: after parse_mode rendering and Telegram's whitespace trimming
    (the caption for photos and documents)."""
    entities: list[JSONDict]
    reply_markup: JSONDict | None
    source: str
    """The text exactly as the bot sent it, before parse_mode rendering."""
    parse_mode: str | None
    at: float


@dataclass
class Upload:
    """A photo or document the bot sent."""

    chat_id: int
    message_id: int
    kind: Literal["photo", "document"]
    file_id: str
    data: bytes | None
    """The uploaded bytes; None when the bot sent a file_id or URL (see `file_ref`)."""
    filename: str | None
    content_type: str | None
    file_ref: str | None
    caption: str
    at: float


@dataclass
class BotMessage:
    """A message the bot sent, with its full edit history (`history[0]` is the original)."""

    chat_id: int
    message_id: int
    kind: MessageKind
    history: list[Revision]
    reply_to_message_id: int | None
    date: int
    deleted: bool = False
    upload: Upload | None = None
    message_thread_id: int | None = None

    @property
    def text(self) -> str:
        return self.history[-1].text

    @property
    def entities(self) -> list[JSONDict]:
        return self.history[-1].entities

    @property
    def reply_markup(self) -> JSONDict | None:
        return self.history[-1].reply_markup

    @property
    def source(self) -> str:
        return self.history[-1].source

    @property
    def parse_mode(self) -> str | None:
        return self.history[-1].parse_mode

    @property
    def edits(self) -> list[Revision]:
        return self.history[1:]


@dataclass
class Draft:
    """One sendMessageDraft call (the streamed, ephemeral preview of a reply)."""

    chat_id: int
    draft_id: int
    text: str
    entities: list[JSONDict]
    source: str
    parse_mode: str | None
    message_thread_id: int | None
    at: float


@dataclass
class ChatAction:
    chat_id: int
    action: str
    message_thread_id: int | None
    at: float


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    at: float


@dataclass
class ForumTopic:
    """A topic of a forum supergroup; `names[0]` is the name it was created with."""

    chat_id: int
    message_thread_id: int
    names: list[str]
    icon_color: int
    deleted: bool = False

    @property
    def name(self) -> str:
        return self.names[-1]
