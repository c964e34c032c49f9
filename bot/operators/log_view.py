"""The mood log in Telegram: /moodlog's arguments, its pages, and their paging buttons.

A page button carries the whole listing (filter, page, and the newest message id when the
listing began) in its callback data, so paging needs no server-side state and survives
restarts. An intent is carried as its place among the configured [triage] intents: a name of
up to 32 characters would not fit Telegram's 64 bytes beside the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.button_data import ROW_ID, USER_ID, ButtonLayout, OneOf, OrNone, WholeNumber
from bot.config import MAX_INTENTS
from bot.formatting import shorten
from bot.operators.periods import parse_period
from engine.vocabulary import MOOD_EMOJI, MOOD_LABELS, MoodLabel, mood_label
from storage.mood_log import MoodFilter, MoodLogEntry, MoodLogPage

PAGE_SIZE = 10
USAGE = "Usage: /moodlog [negative|positive|neutral] [24h|7d|30d] [@user or id]"
# The last second datetime can hold (9999-12-31 23:59:59 UTC).
_LAST_TIMESTAMP = 253_402_300_799
_LISTING = (
    WholeNumber(0, 10**9),
    OrNone(OneOf(MOOD_LABELS)),
    OrNone(WholeNumber(0, _LAST_TIMESTAMP)),
    OrNone(USER_ID),
    WholeNumber(0, ROW_ID.high),
)
# page, label, since (a Unix time), customer, the newest message id when the listing began,
# and the intent (its place among the configured intents).
PAGE_BUTTON = ButtonLayout("mlg", (*_LISTING, OrNone(WholeNumber(0, MAX_INTENTS - 1))))
# The buttons of listings posted before intents, still pressed: the same without the intent.
FORMER_PAGE_BUTTON = ButtonLayout("mlog", _LISTING)
# Every press of either, well-formed or not, for the handler.
PAGE_PATTERN = f"{PAGE_BUTTON.pattern}|{FORMER_PAGE_BUTTON.pattern}"


def usage(intents: Sequence[str] = ()) -> str:
    """The usage line; with intents configured, it names them."""
    if not intents:
        return USAGE
    return f"{USAGE} [{'|'.join(intents)}]"


@dataclass(frozen=True)
class LogArguments:
    label: MoodLabel | None = None
    period: timedelta | None = None
    customer_id: int | None = None
    username: str | None = None
    intent: str | None = None


def parse_arguments(arguments: list[str], intents: Sequence[str] = ()) -> LogArguments:
    """/moodlog's arguments, in any order; ValueError naming the one not understood. A word
    naming one of `intents` (the configured ones) picks that intent."""
    label: MoodLabel | None = None
    period: timedelta | None = None
    customer_id: int | None = None
    username: str | None = None
    intent: str | None = None
    for argument in arguments:
        if (named := mood_label(argument.lower())) is not None:
            label = named
        elif argument.lower() in intents:
            intent = argument.lower()
        elif argument.startswith("@") and len(argument) > 1:
            username = argument[1:]
        elif argument.isdigit():
            customer_id = int(argument)
        else:
            try:
                period = parse_period(argument)
            except ValueError:
                raise ValueError(f"I don't understand {argument!r}.") from None
    return LogArguments(label, period, customer_id, username, intent)


def encode_page(mood_filter: MoodFilter, page: int, intents: Sequence[str] = ()) -> str:
    """A page button's data; ValueError for a filter's intent that is not one of `intents`."""
    since = None if mood_filter.since is None else int(mood_filter.since.timestamp())
    return PAGE_BUTTON.write(
        page,
        mood_filter.label,
        since,
        mood_filter.customer_id,
        mood_filter.up_to_message_id or 0,
        None if mood_filter.intent is None else list(intents).index(mood_filter.intent),
    )


def decode_page(data: str | None, intents: Sequence[str] = ()) -> tuple[MoodFilter, int] | None:
    """The filter and page number in a page button's data; None if it is not one (or names
    an intent beyond those configured now)."""
    fields = PAGE_BUTTON.read(data)
    if fields is None:
        former = FORMER_PAGE_BUTTON.read(data)
        if former is None:
            return None
        fields = (*former, None)
    page, label, since, customer_id, anchor, intent = fields
    if intent is not None and intent >= len(intents):
        return None
    mood_filter = MoodFilter(
        label=label,
        since=None if since is None else datetime.fromtimestamp(since, UTC),
        customer_id=customer_id,
        intent=None if intent is None else intents[intent],
        up_to_message_id=anchor,
    )
    return mood_filter, page


# Beside a message handed to a colleague: the facts did not answer it.
HANDOFF_MARK = "🙋"
# Before what a customer wants ([triage] intents), as the desk marks it.
INTENT_MARK = "🏷"


def customer_text(name: str, username: str | None, customer_id: int) -> str:
    handle = f"@{username}, " if username else ""
    return f"{shorten(name, 32)} ({handle}{customer_id})"


def entry_line(entry: MoodLogEntry, zone: ZoneInfo) -> str:
    when = entry.created_at.astimezone(zone).strftime("%m-%d %H:%M")
    mood = f"{MOOD_EMOJI[entry.model_label]} {entry.model_confidence:.0%}"
    if entry.correction is not None:
        mood += f" → ✍️ {MOOD_EMOJI[entry.correction.label]}"
    if (intent := intent_text(entry)) is not None:
        mood += f" · {intent}"
    if entry.needs_human:
        mood += f" · {HANDOFF_MARK} needs a human"
    who = customer_text(entry.customer_name, entry.customer_username, entry.customer_id)
    about = f" · 🔑 {', '.join(entry.keywords)}" if entry.keywords else ""
    return f"{when} · {who} · {mood}{about} · {shorten(entry.text, 80)}"


def intent_text(entry: MoodLogEntry) -> str | None:
    """The model's intent and confidence ("🏷 returns 84%"), with an operator's correction
    like the mood's ("🏷 shipping 61% → ✍️ returns"); None for a message without an intent."""
    corrected = entry.intent_correction
    if entry.model_intent is None:
        return None if corrected is None else f"{INTENT_MARK} ✍️ {corrected}"
    model = f"{INTENT_MARK} {entry.model_intent}"
    if entry.model_intent_confidence is not None:
        model += f" {entry.model_intent_confidence:.0%}"
    return model if corrected is None else f"{model} → ✍️ {corrected}"


def _filter_text(mood_filter: MoodFilter, zone: ZoneInfo) -> str:
    parts = ["Mood log"]
    if mood_filter.label is not None:
        parts.append(f"{MOOD_EMOJI[mood_filter.label]} {mood_filter.label}")
    if mood_filter.intent is not None:
        parts.append(f"{INTENT_MARK} {mood_filter.intent}")
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
    intents = (
        f"; {INTENT_MARK} = what the customer wants"
        if any(entry.intent is not None for entry in page.entries)
        else ""
    )
    summary = (
        f"{page.total} messages, page {number + 1} of {page_count(page.total)}, newest first "
        f"(times in {zone.key}; ✍️ = corrected by an operator; "
        f"{HANDOFF_MARK} = handed to a colleague{intents})"
    )
    return "\n".join([header, summary, "", *(entry_line(entry, zone) for entry in page.entries)])


def page_keyboard(
    page: MoodLogPage, number: int, intents: Sequence[str] = ()
) -> InlineKeyboardMarkup | None:
    buttons = []
    if number > 0:
        data = encode_page(page.mood_filter, number - 1, intents)
        buttons.append(InlineKeyboardButton("« newer", callback_data=data))
    if number + 1 < page_count(page.total):
        data = encode_page(page.mood_filter, number + 1, intents)
        buttons.append(InlineKeyboardButton("older »", callback_data=data))
    return InlineKeyboardMarkup([buttons]) if buttons else None
