"""Mood alerts: an unhappy customer's message goes to the operators as soon as it is tagged,
into the customer's forum topic or, without one, each operator chat (where replying to the
alert answers the customer: bot.operators.takeover).

A message alerts when it is tagged negative with a confidence above the threshold, or when it
makes the customer's run of negative messages reach the configured length (once per run, not
again for every further negative message). The alert shows the message with the customer's
previous messages, what the message wants where triage read it, and buttons to correct the
mood and the intent (see bot.operators.corrections).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.button_data import ROW_ID, ButtonLayout, OneOf
from bot.config import OperatorsConfig
from bot.formatting import shorten
from bot.operators.desk_channel import DeskChannel
from bot.operators.log_view import customer_text, entry_line
from bot.operators.triage import INTENT_MARK, IntentButtons
from engine.types import Mood
from engine.vocabulary import MOOD_EMOJI, MOOD_LABELS, SHOWN_ORDER
from storage import StoredMessage
from storage.desk import Conversation
from storage.mood_log import MoodFilter, MoodLog, MoodLogEntry

log = logging.getLogger(__name__)

# The message and the label an operator gives it; "mfix" on alerts of earlier versions.
CORRECTION_BUTTON = ButtonLayout("correct-mood", (ROW_ID, OneOf(MOOD_LABELS)), ("mfix",))
CONTEXT_MESSAGES = 5
MESSAGE_PREVIEW = 1500
# Seconds an alert waits for the complaint keywords of its message.
KEYWORDS_WAIT = 15.0


def negative_streak(recent: Sequence[MoodLogEntry]) -> int:
    """How many of the newest entries (newest first) in a row are negative."""
    count = 0
    for entry in recent:
        if entry.label != "negative":
            break
        count += 1
    return count


def alert_reasons(mood: Mood, recent: Sequence[MoodLogEntry], config: OperatorsConfig) -> list[str]:
    """Why this message alerts, if it does. `recent` is the customer's log up to and including
    the message, newest first, at least `alert_streak + 1` entries when there are that many."""
    reasons = []
    if mood.label == "negative" and mood.confidence > config.alert_confidence:
        reasons.append(
            f"negative at {mood.confidence:.0%} confidence "
            f"(alerts above {config.alert_confidence:.0%})"
        )
    length = config.alert_streak
    if length and negative_streak(recent[: length + 1]) == length:
        reasons.append(f"{length} negative messages in a row")
    return reasons


def correction_keyboard(
    message_id: int, intents: IntentButtons | None = None
) -> InlineKeyboardMarkup:
    """The mood correction buttons, and under them the intent buttons where given."""
    moods = [
        InlineKeyboardButton(
            f"correct: {MOOD_EMOJI[label]} {label}",
            callback_data=CORRECTION_BUTTON.write(message_id, label),
        )
        for label in SHOWN_ORDER
    ]
    if intents is None:
        return InlineKeyboardMarkup([moods])
    return intents.keyboard(message_id, above=[moods])


def wants_text(entry: MoodLogEntry) -> str | None:
    """What the message wants, e.g. "🏷 Wants: returns (84%)" (the model's confidence; an
    operator's correction shows without one); None where no intent was read."""
    if entry.intent is None:
        return None
    if entry.intent_correction is None and entry.model_intent_confidence is not None:
        return f"{INTENT_MARK} Wants: {entry.intent} ({entry.model_intent_confidence:.0%})"
    return f"{INTENT_MARK} Wants: {entry.intent}"


def alert_text(
    entry: MoodLogEntry,
    previous: Sequence[MoodLogEntry],
    reasons: Sequence[str],
    zone: ZoneInfo,
) -> str:
    """The alert for `entry`, with the customer's `previous` messages (newest first), and what
    `entry` wants where its intent was read."""
    customer = customer_text(entry.customer_name, entry.customer_username, entry.customer_id)
    lines = [
        f"⚠️ Mood alert: {'; '.join(reasons)}",
        f"Customer: {customer} · chat {entry.chat_id}",
        f"{entry.created_at.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})",
        "",
        f"{MOOD_EMOJI[entry.model_label]} {entry.model_confidence:.0%}: "
        f"{shorten(entry.text, MESSAGE_PREVIEW)}",
    ]
    if (wants := wants_text(entry)) is not None:
        lines.append(wants)
    if entry.keywords:
        lines.append(f"🔑 About: {', '.join(entry.keywords)}")
    if previous:
        lines += ["", "Before that (oldest first):"]
        lines += [entry_line(earlier, zone) for earlier in reversed(previous)]
    return "\n".join(lines)


class MoodAlerts:
    """Checks each newly tagged message and alerts the operator chats when it should."""

    def __init__(
        self,
        channel: DeskChannel,
        mood_log: MoodLog,
        config: OperatorsConfig,
        keywords_ready: Callable[[int, float], Awaitable[None]],
        intents: IntentButtons | None = None,
    ) -> None:
        self._channel = channel
        # None: triage is off, and alerts say nothing about intents.
        self._intents = intents
        self._keywords_ready = keywords_ready
        self._log = mood_log
        self._config = config
        self._checks: set[asyncio.Task[None]] = set()

    def on_mood(self, message: StoredMessage, mood: Mood) -> None:
        """Called as each mood is stored; the check runs beside the answer, never delaying it."""
        # Both reasons need a negative message.
        if mood.label != "negative":
            return
        task = asyncio.create_task(self._check(message, mood))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def close(self) -> None:
        """Abandon alerts still being checked or sent (shutdown)."""
        for task in self._checks:
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)

    async def _check(self, message: StoredMessage, mood: Mood) -> None:
        try:
            await self._alert_if_needed(message, mood)
        except Exception:
            # Nobody awaits this task: an error that is not logged here is never seen.
            log.exception("message %s: the mood alert check failed", message.id)

    async def _alert_if_needed(self, message: StoredMessage, mood: Mood) -> None:
        # What the complaint is about makes the alert far more useful, and the alert is off the
        # customer's path, so it may wait a little for the keywords.
        await self._keywords_ready(message.id, KEYWORDS_WAIT)
        recent = await self._log.entries(
            MoodFilter(customer_id=message.customer_id, up_to_message_id=message.id),
            limit=max(self._config.alert_streak + 1, CONTEXT_MESSAGES + 1),
        )
        if not recent or recent[0].message_id != message.id:
            # The customer had everything about them deleted meanwhile (/forget).
            return
        reasons = alert_reasons(mood, recent, self._config)
        if not reasons:
            return
        shown = recent[: CONTEXT_MESSAGES + 1]
        if self._intents is None:
            # Read while triage was on, perhaps: not shown now that it is off.
            shown = [replace(entry, model_intent=None, intent_correction=None) for entry in shown]
        entry = shown[0]
        text = alert_text(entry, shown[1:], reasons, self._config.zone)
        markup = correction_keyboard(
            message.id, self._intents if entry.model_intent is not None else None
        )
        log.info("message %s of customer %s alerts: %s", message.id, message.customer_id, reasons)
        conversation = Conversation(message.chat_id, message.customer_id)
        # In the customer's queue, so that the alert follows the message it is about.
        self._channel.submit(
            message.customer_id,
            lambda: self._channel.post(conversation, text, markup),
            "post a mood alert",
        )
