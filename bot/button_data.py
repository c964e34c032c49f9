"""The data inline buttons carry: each kind of button declares its layout here, and the data
is written and read by that layout alone.

Telegram hands the bot whatever data a client sends with a press, so a press is untrusted
input: data that does not have exactly its layout's shape is refused with a short answer
(`refuse`), never turned into an error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

from telegram import CallbackQuery, Message, Update
from telegram.ext import ContextTypes

from bot.texts import text, ui_language

log = logging.getLogger(__name__)

# Telegram refuses callback data longer than this many bytes.
CALLBACK_DATA_LIMIT = 64
# Telegram's ids and the database's integer columns hold at most this.
LARGEST_ID = 2**63 - 1
# ASCII digits only: str.isdigit() and int() also take the digits of other scripts.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,19}")
_NONE = "-"


class _Malformed(ValueError):
    pass


class Field(Protocol):
    def read(self, written: str) -> Any:
        """The value `written` stands for; _Malformed if it stands for none."""

    def write(self, value: Any) -> str: ...


@dataclass(frozen=True)
class WholeNumber:
    low: int = -LARGEST_ID
    high: int = LARGEST_ID
    # Telegram's chat ids are never 0, so an id field may refuse it.
    zero: bool = True

    def read(self, written: str) -> int:
        if not _WHOLE_NUMBER.fullmatch(written):
            raise _Malformed
        number = int(written)
        if not self.low <= number <= self.high or (number == 0 and not self.zero):
            raise _Malformed
        return number

    def write(self, value: int) -> str:
        return str(self.read(str(value)))


@dataclass(frozen=True)
class OneOf:
    words: tuple[str, ...]

    def read(self, written: str) -> str:
        if written not in self.words:
            raise _Malformed
        return written

    def write(self, value: str) -> str:
        return self.read(value)


@dataclass(frozen=True)
class OrNone:
    """`field`, or None written as "-"."""

    field: Field

    def read(self, written: str) -> Any:
        return None if written == _NONE else self.field.read(written)

    def write(self, value: Any) -> str:
        return _NONE if value is None else self.field.write(value)


ROW_ID = WholeNumber(low=1)
USER_ID = WholeNumber(low=1)
CHAT_ID = WholeNumber(zero=False)


@dataclass(frozen=True)
class ButtonLayout:
    """`prefix:field:field…`; `former_prefixes` are read too, for buttons an earlier version
    posted that are still pressed."""

    prefix: str
    fields: tuple[Field, ...]
    former_prefixes: tuple[str, ...] = ()

    @property
    def pattern(self) -> str:
        """The handler's pattern: every press of this kind of button, well-formed or not."""
        prefixes = "|".join(re.escape(p) for p in (self.prefix, *self.former_prefixes))
        return rf"^(?:{prefixes})(?::|$)"

    def write(self, *values: Any) -> str:
        written = [field.write(value) for field, value in zip(self.fields, values, strict=True)]
        data = ":".join([self.prefix, *written])
        if len(data.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError(
                f"callback data {data!r} is over Telegram's {CALLBACK_DATA_LIMIT} bytes"
            )
        return data

    def read(self, data: str | None) -> tuple[Any, ...] | None:
        """The values in `data`, or None unless it is exactly this layout."""
        if data is None:
            return None
        prefix, *written = data.split(":")
        if prefix not in (self.prefix, *self.former_prefixes) or len(written) != len(self.fields):
            return None
        try:
            return tuple(field.read(part) for field, part in zip(self.fields, written, strict=True))
        except _Malformed:
            return None


def carries(message: Message, data: str) -> bool:
    """Whether one of the message's own buttons carries `data` (a forged press carries data
    of no button there)."""
    markup = message.reply_markup
    rows = markup.inline_keyboard if markup is not None else ()
    return any(button.callback_data == data for row in rows for button in row)


async def refuse(query: CallbackQuery) -> None:
    """Answer a press whose data is malformed, forged or not this presser's to make."""
    log.warning("refused a button press with data %r from user %s", query.data, query.from_user.id)
    await query.answer(text("button_refused", ui_language(query.from_user.language_code)))


async def refuse_unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press no handler took: data of no layout at all."""
    if update.callback_query is not None:
        await refuse(update.callback_query)
