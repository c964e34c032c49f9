"""The mood log in Telegram: /moodlog's arguments, its pages, and their paging buttons.

A page button carries the whole listing (filter, page, and the newest message id when the
listing began) in its callback data, so paging needs no server-side state and survives
restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.formatting import shorten
from bot.operators.periods import parse_period
from engine.vocabulary import MOOD_EMOJI, MoodLabel, mood_label
from storage.mood_log import MoodFilter, MoodLogEntry, MoodLogPage

PAGE_PREFIX = "mlog"
PAGE_SIZE = 10
USAGE = "Usage: /moodlog [negative|positive|neutral] [24h|7d|30d] [@user or id]"
# Telegram refuses callback data longer than this many bytes.
CALLBACK_DATA_LIMIT = 64


@dataclass(frozen=True)
class LogArguments:
    label: MoodLabel | None = None
    period: timedelta | None = None
    customer_id: int | None = None
    username: str | None = None


def parse_arguments(arguments: list[str]) -> LogArguments:
    """/moodlog's arguments, in any order; ValueError naming the one not understood."""
    label: MoodLabel | None = None
    period: timedelta | None = None
    customer_id: int | None = None
    username: str | None = None
    for argument in arguments:
        if (named := mood_label(argument.lower())) is not None:
            label = named
        elif argument.startswith("@") and len(argument) > 1:
            username = argument[1:]
        elif argument.isdigit():
            customer_id = int(argument)
        else:
            try:
                period = parse_period(argument)
            except ValueError:
                raise ValueError(f"I don't understand {argument!r}.") from None
    return LogArguments(label, period, customer_id, username)


def encode_page(mood_filter: MoodFilter, page: int) -> str:
    since = "-" if mood_filter.since is None else str(int(mood_filter.since.timestamp()))
    fields = (
        PAGE_PREFIX,
        str(page),
        mood_filter.label or "-",
        since,
        "-" if mood_filter.customer_id is None else str(mood_filter.customer_id),
        str(mood_filter.up_to_message_id or 0),
    )
    data = ":".join(fields)
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data {data!r} is over Telegram's {CALLBACK_DATA_LIMIT} bytes")
    return data


def decode_page(data: str) -> tuple[MoodFilter, int]:
    """The filter and page number in a page button's data; ValueError if it is not one."""
    prefix, page, label, since, customer, anchor = data.split(":")
    if prefix != PAGE_PREFIX or (label != "-" and mood_label(label) is None):
        raise ValueError(f"not a mood log page: {data!r}")
    mood_filter = MoodFilter(
        label=mood_label(label),
        since=None if since == "-" else datetime.fromtimestamp(int(since), UTC),
        customer_id=None if customer == "-" else int(customer),
        up_to_message_id=int(anchor),
    )
    return mood_filter, int(page)


# Beside a message handed to a colleague: the facts did not answer it.
HANDOFF_MARK = "🙋"


def customer_text(name: str, username: str | None, customer_id: int) -> str:
    handle = f"@{username}, " if username else ""
    return f"{shorten(name, 32)} ({handle}{customer_id})"


def entry_line(entry: MoodLogEntry, zone: ZoneInfo) -> str:
    when = entry.created_at.astimezone(zone).strftime("%m-%d %H:%M")
    mood = f"{MOOD_EMOJI[entry.model_label]} {entry.model_confidence:.0%}"
    if entry.correction is not None:
        mood += f" → ✍️ {MOOD_EMOJI[entry.correction.label]}"
    if entry.needs_human:
        mood += f" · {HANDOFF_MARK} needs a human"
    who = customer_text(entry.customer_name, entry.customer_username, entry.customer_id)
    about = f" · 🔑 {', '.join(entry.keywords)}" if entry.keywords else ""
    return f"{when} · {who} · {mood}{about} · {shorten(entry.text, 80)}"


def _filter_text(mood_filter: MoodFilter, zone: ZoneInfo) -> str:
    parts = ["Mood log"]
    if mood_filter.label is not None:
        parts.append(f"{MOOD_EMOJI[mood_filter.label]} {mood_filter.label}")
    if mood_filter.since is not None:
        parts.append(f"since {mood_filter.since.astimezone(zone):%Y-%m-%d %H:%M}")
    if mood_filter.customer_id is not None:
        parts.append(f"customer {mood_filter.customer_id}")
    return " · ".join(parts)


def page_count(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def page_text(page: MoodLogPage, number: int, zone: ZoneInfo) -> str:
    header = _filter_text(page.mood_filter, zone)
    if not page.entries:
        if page.total:
            return f"{header}\nNo page {number + 1}: there are {page_count(page.total)}."
        return f"{header}\nNo tagged messages match."
    summary = (
        f"{page.total} messages, page {number + 1} of {page_count(page.total)}, newest first "
        f"(times in {zone.key}; ✍️ = corrected by an operator; "
        f"{HANDOFF_MARK} = handed to a colleague)"
    )
    return "\n".join([header, summary, "", *(entry_line(entry, zone) for entry in page.entries)])


def page_keyboard(page: MoodLogPage, number: int) -> InlineKeyboardMarkup | None:
    buttons = []
    if number > 0:
        buttons.append(
            InlineKeyboardButton("« newer", callback_data=encode_page(page.mood_filter, number - 1))
        )
    if number + 1 < page_count(page.total):
        buttons.append(
            InlineKeyboardButton("older »", callback_data=encode_page(page.mood_filter, number + 1))
        )
    return InlineKeyboardMarkup([buttons]) if buttons else None
