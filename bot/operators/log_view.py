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

from bot.button_data import ROW_ID, USER_ID, ButtonLayout, OneOf, OrNone, WholeNumber
from bot.formatting import shorten
from bot.operators.periods import parse_period
from engine.vocabulary import MOOD_EMOJI, MOOD_LABELS, MoodLabel, mood_label
from storage.mood_log import MoodFilter, MoodLogEntry, MoodLogPage

PAGE_SIZE = 10
USAGE = "Usage: /moodlog [negative|positive|neutral] [24h|7d|30d] [@user or id]"
# The last second datetime can hold (9999-12-31 23:59:59 UTC).
_LAST_TIMESTAMP = 253_402_300_799
# page, label, since (a Unix time), customer, the newest message id when the listing began.
PAGE_BUTTON = ButtonLayout(
    "mlog",
    (
        WholeNumber(0, 10**9),
        OrNone(OneOf(MOOD_LABELS)),
        OrNone(WholeNumber(0, _LAST_TIMESTAMP)),
        OrNone(USER_ID),
        WholeNumber(0, ROW_ID.high),
    ),
)


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
    since = None if mood_filter.since is None else int(mood_filter.since.timestamp())
    return PAGE_BUTTON.write(
        page,
        mood_filter.label,
        since,
        mood_filter.customer_id,
        mood_filter.up_to_message_id or 0,
    )


def decode_page(data: str | None) -> tuple[MoodFilter, int] | None:
    """The filter and page number in a page button's data; None if it is not one."""
    fields = PAGE_BUTTON.read(data)
    if fields is None:
        return None
    page, label, since, customer_id, anchor = fields
    mood_filter = MoodFilter(
        label=label,
        since=None if since is None else datetime.fromtimestamp(since, UTC),
        customer_id=customer_id,
        up_to_message_id=anchor,
    )
    return mood_filter, page


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
