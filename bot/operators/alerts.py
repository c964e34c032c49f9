"""Mood alerts: an unhappy customer's message goes to the operators as soon as it is tagged.

A message alerts when it is tagged negative with a confidence above the threshold, or when it
makes the customer's run of negative messages reach the configured length (once per run, not
again for every further negative message). The alert shows the message with the customer's
previous messages, and buttons to correct the mood (see bot.operators.corrections).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.config import OperatorsConfig
from bot.delivery import DeliveryFailed, deliver
from bot.formatting import shorten
from bot.operators.log_view import customer_text, entry_line
from engine.types import Mood
from engine.vocabulary import MOOD_EMOJI, SHOWN_ORDER
from storage import StoredMessage
from storage.mood_log import MoodFilter, MoodLog, MoodLogEntry

log = logging.getLogger(__name__)

CORRECTION_PREFIX = "mfix"
CONTEXT_MESSAGES = 5
MESSAGE_PREVIEW = 1500


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


def correction_keyboard(message_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"correct: {MOOD_EMOJI[label]} {label}",
                    callback_data=f"{CORRECTION_PREFIX}:{message_id}:{label}",
                )
                for label in SHOWN_ORDER
            ]
        ]
    )


def alert_text(
    entry: MoodLogEntry,
    previous: Sequence[MoodLogEntry],
    reasons: Sequence[str],
    zone: ZoneInfo,
) -> str:
    """The alert for `entry`, with the customer's `previous` messages (newest first)."""
    customer = customer_text(entry.customer_name, entry.customer_username, entry.customer_id)
    lines = [
        f"⚠️ Mood alert: {'; '.join(reasons)}",
        f"Customer: {customer} · chat {entry.chat_id}",
        f"{entry.created_at.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})",
        "",
        f"{MOOD_EMOJI[entry.model_label]} {entry.model_confidence:.0%}: "
        f"{shorten(entry.text, MESSAGE_PREVIEW)}",
    ]
    if previous:
        lines += ["", "Before that (oldest first):"]
        lines += [entry_line(earlier, zone) for earlier in reversed(previous)]
    return "\n".join(lines)


class MoodAlerts:
    """Checks each newly tagged message and alerts the operator chats when it should."""

    def __init__(
        self, bot: Bot, mood_log: MoodLog, config: OperatorsConfig, chats: Sequence[int]
    ) -> None:
        self._bot = bot
        self._log = mood_log
        self._config = config
        self._chats = list(chats)
        self._checks: set[asyncio.Task[None]] = set()

    def on_mood(self, message: StoredMessage, mood: Mood) -> None:
        """Called as each mood is stored; the check runs beside the answer, never delaying it."""
        # Both reasons need a negative message.
        if not self._chats or mood.label != "negative":
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
        text = alert_text(recent[0], recent[1 : CONTEXT_MESSAGES + 1], reasons, self._config.zone)
        log.info("message %s of customer %s alerts: %s", message.id, message.customer_id, reasons)
        for chat_id in self._chats:
            try:
                await deliver(
                    lambda chat_id=chat_id: self._bot.send_message(
                        chat_id, text, reply_markup=correction_keyboard(message.id)
                    ),
                    f"chat {chat_id}: mood alert",
                )
            except (DeliveryFailed, TelegramError) as exc:
                # An operator who never opened a chat with the bot cannot be written to.
                log.warning("chat %s: could not deliver a mood alert: %s", chat_id, exc)
