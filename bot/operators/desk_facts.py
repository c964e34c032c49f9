"""The desk teaches the bot: an operator's answer to a question the bot handed over can be
saved as a fact with one button (📌 Save as fact), and the bot answers such questions from it
from then on; /facts lists the newest desk facts, each with a button to remove it.

Desk facts live in the database. Every bot process reads them on start and again every
SYNC_SECONDS, and the process where an operator saves or removes one applies it at once: a
fact taught in one process reaches the others without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.button_data import ROW_ID, ButtonLayout, refuse
from bot.delivery import DeliveryFailed, deliver
from bot.formatting import shorten
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.timed_jobs import TimedJobs
from engine.knowledge.base import DeskFact
from engine.protocol import Engine
from storage import Clock, MessageNotFoundError, StorageError, StoredMessage
from storage.desk_facts import DeskFactRecord, DeskFacts

log = logging.getLogger(__name__)

# The customer's question and the operator's message that answers it.
SAVE_FACT_BUTTON = ButtonLayout("save-fact", (ROW_ID, ROW_ID))
REMOVE_FACT_BUTTON = ButtonLayout("remove-fact", (ROW_ID,))
SYNC_SECONDS = 30.0
# How many desk facts /facts lists, and how much of each side it shows.
LISTED = 10
SHOWN_CHARS = 160


class DeskFactsSync:
    """Keeps the engine's desk facts equal to the database's."""

    def __init__(self, engine: Engine, facts: DeskFacts) -> None:
        self._engine = engine
        self._facts = facts

    async def refresh(self) -> None:
        """Hand the facts in use to the engine."""
        records = await self._facts.active()
        facts = [DeskFact(r.id, r.question, r.answer) for r in reversed(records)]
        # Indexing them (jieba, BM25) takes a moment: not on the event loop.
        await asyncio.to_thread(self._engine.set_desk_facts, facts)

    async def job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self.refresh()
        except StorageError as exc:
            log.warning("desk facts not refreshed, the ones in use stay: %s", exc)


def facts_text(records: list[DeskFactRecord], zone: ZoneInfo) -> str:
    if not records:
        return (
            "📌 No desk facts yet. When you answer a question the bot handed over, press "
            "“📌 Save as fact” under your answer, and the bot answers such questions itself."
        )
    lines = [f"📌 The newest desk facts the bot answers from ({len(records)} shown):"]
    for record in records:
        lines += [
            "",
            f"#{record.id} · {record.created_at.astimezone(zone):%Y-%m-%d %H:%M} · "
            f"operator {record.operator_id}",
            f"Q: {shorten(record.question, SHOWN_CHARS)}",
            f"A: {shorten(record.answer, SHOWN_CHARS)}",
        ]
    return "\n".join(lines)


def facts_keyboard(records: list[DeskFactRecord]) -> InlineKeyboardMarkup | None:
    if not records:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"🗑 Remove #{record.id}", callback_data=REMOVE_FACT_BUTTON.write(record.id)
                )
            ]
            for record in records
        ]
    )


class DeskTeaching:
    def __init__(
        self,
        gate: OperatorGate,
        facts: DeskFacts,
        sync: DeskFactsSync,
        zone: ZoneInfo,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._facts = facts
        self.sync = sync
        self._zone = zone
        self._clock = clock

    def register(self, app: Application, jobs: TimedJobs) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CommandHandler("facts", then_stop(self.on_facts), filters=filters.UpdateType.MESSAGE),
            group=OPERATOR_HANDLER_GROUP,
        )
        app.add_handler(
            CallbackQueryHandler(then_stop(self.on_save), pattern=SAVE_FACT_BUTTON.pattern),
            group=OPERATOR_HANDLER_GROUP,
        )
        app.add_handler(
            CallbackQueryHandler(then_stop(self.on_remove), pattern=REMOVE_FACT_BUTTON.pattern),
            group=OPERATOR_HANDLER_GROUP,
        )
        if jobs.available:
            jobs.in_every_process(self.sync.job, SYNC_SECONDS, "desk facts refresh")

    # --- offering to save an operator's answer -----------------------------------------------

    async def operator_answered(self, sent: StoredMessage, source: Message) -> None:
        """An operator's message reached the customer: when it is the first answer to a
        question the bot handed over, offer to save the two as a fact."""
        try:
            question = await self._facts.question_answered_by(sent.id)
        except StorageError as exc:
            log.warning("could not look for the question an operator answered: %s", exc)
            return
        if question is None:
            return
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        "📌 Save as fact", callback_data=SAVE_FACT_BUTTON.write(question, sent.id)
                    )
                ]
            ]
        )
        try:
            await deliver(
                lambda: source.reply_text(
                    "📌 This answers a question the bot handed over. Save it as a fact, and "
                    "the bot answers such questions from it.",
                    reply_markup=markup,
                ),
                f"chat {source.chat_id}: save-as-fact offer",
            )
        except (DeliveryFailed, TelegramError) as exc:
            log.warning("chat %s: could not offer to save a fact: %s", source.chat_id, exc)

    async def on_save(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        press = await self._gate.press(update, SAVE_FACT_BUTTON)
        if press is None:
            return
        query, offer, (question, answer) = press.query, press.message, press.fields
        operator = query.from_user
        try:
            saved = await self._facts.save(question, answer, operator.id, self._clock())
        except ValueError:
            # Ids of messages that are no customer's question and operator's answer: forged.
            await refuse(query)
            return
        except MessageNotFoundError:
            await query.answer(
                "This conversation is no longer stored (its customer had it deleted).",
                show_alert=True,
            )
            return
        if saved is None:
            await query.answer("It was saved already.")
            return
        log.info("operator %s saved desk fact %s", operator.id, saved.id)
        await query.answer("Saved: the bot answers such questions from it now.")
        await self._apply()
        await _edit(
            offer,
            f"📌 Saved as desk fact #{saved.id} by {operator.full_name} ({operator.id}): the "
            "bot answers such questions from it now. /facts lists the desk facts.",
            None,
        )

    # --- /facts ------------------------------------------------------------------------------

    async def on_facts(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := await self._gate.command(update)) is None:
            return
        records = await self._facts.active(LISTED)
        await deliver(
            lambda: message.reply_text(
                facts_text(records, self._zone), reply_markup=facts_keyboard(records)
            ),
            f"chat {message.chat_id}: desk facts",
        )

    async def on_remove(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        press = await self._gate.press(update, REMOVE_FACT_BUTTON)
        if press is None:
            return
        query, listing, (fact_id,) = press.query, press.message, press.fields
        removed = await self._facts.remove(fact_id, query.from_user.id, self._clock())
        if removed:
            log.info("operator %s removed desk fact %s", query.from_user.id, fact_id)
            await self._apply()
        await query.answer(f"Removed #{fact_id}." if removed else "It was removed already.")
        records = await self._facts.active(LISTED)
        await _edit(listing, facts_text(records, self._zone), facts_keyboard(records))

    async def _apply(self) -> None:
        """The change reaches this process's engine now (the others' at their next refresh)."""
        try:
            await self.sync.refresh()
        except StorageError as exc:
            log.warning("desk facts not refreshed now; the next refresh brings them: %s", exc)


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await message.edit_text(text, reply_markup=markup)
    except BadRequest as exc:
        # A double tap: the post already says this.
        if "not modified" not in str(exc).lower():
            log.info("could not update a desk facts post: %s", exc)
