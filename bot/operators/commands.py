"""The operators' commands in Telegram: /moodlog (paged) and /moodstats (chart and numbers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.button_data import refuse
from bot.config import OperatorsConfig
from bot.delivery import deliver
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.operators.answer_report import answers_for_days
from bot.operators.chart import render_mood_chart
from bot.operators.log_view import (
    PAGE_PATTERN,
    PAGE_SIZE,
    decode_page,
    page_keyboard,
    page_text,
    parse_arguments,
    usage,
)
from bot.operators.periods import last_days, one_period, parse_days
from bot.operators.report import (
    day_lines,
    intent_lines,
    no_messages_text,
    period_text,
    summary_text,
)
from bot.operators.satisfaction_report import satisfaction_for_days
from storage import Clock, Database
from storage.corrections import CorrectedMessage, agreement, corrected_messages
from storage.mood_log import MoodFilter, MoodLog
from storage.mood_stats import daily_moods, local_midnight, moods_by_intent

log = logging.getLogger(__name__)

STATS_USAGE = "Usage: /moodstats [7d|30d]"
DEFAULT_STATS_DAYS = 7
MAX_STATS_DAYS = 366


class OperatorCommands:
    def __init__(
        self,
        gate: OperatorGate,
        database: Database,
        config: OperatorsConfig,
        clock: Clock,
        intents: Sequence[str] = (),
    ) -> None:
        """`intents`: the configured [triage] intents' names in their order (none with triage
        off), which /moodlog filters by."""
        self._gate = gate
        self._intents = tuple(intents)
        self._clock = clock
        self._database = database
        self._log = MoodLog(database)
        self._zone = config.zone

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        only_messages = filters.UpdateType.MESSAGE
        for name, callback in (("moodlog", self.on_moodlog), ("moodstats", self.on_moodstats)):
            app.add_handler(
                CommandHandler(name, then_stop(callback), filters=only_messages),
                group=OPERATOR_HANDLER_GROUP,
            )
        app.add_handler(
            CallbackQueryHandler(then_stop(self.on_page_button), pattern=PAGE_PATTERN),
            group=OPERATOR_HANDLER_GROUP,
        )

    async def on_moodlog(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := await self._gate.command(update)) is None:
            return
        try:
            arguments = parse_arguments(context.args or [], self._intents)
        except ValueError as exc:
            await _reply(message, f"{exc}\n{usage(self._intents)}")
            return
        customer_id = arguments.customer_id
        if arguments.username is not None:
            customer_id = await self._log.customer_id_by_username(arguments.username)
            if customer_id is None:
                await _reply(message, f"No customer @{arguments.username} is known.")
                return
        since = None if arguments.period is None else self._clock() - arguments.period
        mood_filter = MoodFilter(
            label=arguments.label,
            since=since,
            customer_id=customer_id,
            intent=arguments.intent,
        )
        page = await self._log.page(mood_filter, 0, PAGE_SIZE)
        await deliver(
            lambda: message.reply_text(
                page_text(page, 0, self._zone),
                reply_markup=page_keyboard(page, 0, self._intents),
            ),
            f"chat {message.chat_id}: mood log",
        )

    async def on_page_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None or not await self._gate.button(query):
            return
        decoded = decode_page(query.data, self._intents)
        if decoded is None:
            await refuse(query)
            return
        mood_filter, number = decoded
        page = await self._log.page(mood_filter, number, PAGE_SIZE)
        await query.answer()
        try:
            await query.edit_message_text(
                page_text(page, number, self._zone),
                reply_markup=page_keyboard(page, number, self._intents),
            )
        except BadRequest as exc:
            # A double tap asks for the page already shown.
            if "not modified" not in str(exc).lower():
                raise

    async def on_moodstats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := await self._gate.command(update)) is None:
            return
        try:
            days = one_period(context.args or [], parse_days, DEFAULT_STATS_DAYS)
            if days > MAX_STATS_DAYS:
                raise ValueError(f"At most {MAX_STATS_DAYS} days.")
        except ValueError as exc:
            await _reply(message, f"{exc}\n{STATS_USAGE}")
            return
        first, last = last_days(days, self._zone, self._clock(), include_today=True)
        stats = await daily_moods(self._database, first, last, self._zone)
        if stats.is_empty:
            await _reply(message, no_messages_text(stats))
            return
        since = local_midnight(first, self._zone)
        until = local_midnight(last + timedelta(days=1), self._zone)
        intents = await moods_by_intent(self._database, since, until)
        chart = await asyncio.to_thread(render_mood_chart, stats, intents)
        await deliver(
            lambda: message.reply_photo(
                chart,
                caption=f"Moods {period_text(stats)}\n{summary_text(stats)}",
                filename="moods.png",
            ),
            f"chat {message.chat_id}: mood chart",
        )
        satisfaction = await satisfaction_for_days(self._database, first, last, self._zone)
        corrected = await corrected_messages(self._database, since, until)
        answers = await answers_for_days(self._database, first, last, self._zone)
        by_intent = [*intent_lines(intents), ""] if intents else []
        lines = [
            *day_lines(stats),
            "",
            *by_intent,
            *satisfaction,
            *answers,
            agreement_line(corrected),
        ]
        await _reply(message, "\n".join(lines))


def agreement_line(corrected: list[CorrectedMessage]) -> str:
    share = agreement(corrected)
    if share is None:
        return "Model and operators: no corrections in this period."
    return (
        f"Model and operators agree on {share:.0%} of {len(corrected)} messages an operator "
        "labelled (moodbot calibrate fits the thresholds to them)."
    )


async def _reply(message: Message, reply: str) -> None:
    await deliver(lambda: message.reply_text(reply), f"chat {message.chat_id}: operator reply")
