"""The daily digest: yesterday's moods (and intents, where triage read them), the week's chart
and the unhappiest customers, sent to the operator chats at a configured local time by the
application's JobQueue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram import Bot
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.config import OperatorsConfig
from bot.delivery import DeliveryFailed, deliver
from bot.operators.answer_report import answers_for_days
from bot.operators.chart import render_mood_chart
from bot.operators.log_view import customer_text
from bot.operators.periods import last_days
from bot.operators.report import intent_lines, period_text, summary_text
from bot.operators.satisfaction_report import satisfaction_for_days
from bot.timed_jobs import TimedJobs
from storage import Clock, Database
from storage.mood_stats import (
    IntentMoods,
    MoodStats,
    UnhappyCustomer,
    daily_moods,
    local_midnight,
    moods_by_intent,
    most_negative_customers,
)

log = logging.getLogger(__name__)

CHART_DAYS = 7
TOP_CUSTOMERS = 5
JOB_NAME = "mood digest"


@dataclass(frozen=True)
class Digest:
    text: str
    # The chart of the week up to yesterday; None when that week had no messages.
    chart: bytes | None
    week: MoodStats


def digest_text(
    week: MoodStats,
    unhappy: Sequence[UnhappyCustomer],
    satisfaction: Sequence[str],
    intents: Sequence[IntentMoods] = (),
) -> str:
    """`intents`: yesterday's messages per intent (none: nothing is said about intents)."""
    yesterday = MoodStats(week.time_zone, week.days[-1:])
    lines = [f"📊 Mood digest for {period_text(yesterday)}"]
    if yesterday.is_empty:
        lines.append("No tagged messages yesterday.")
    else:
        lines.append(summary_text(yesterday))
    if intents:
        lines += ["", *intent_lines(intents)]
    if unhappy:
        lines += ["", "Customers with the most negative messages:"]
        lines += [
            f"{rank}. {customer_text(c.name, c.username, c.customer_id)}: {c.negative}"
            for rank, c in enumerate(unhappy, start=1)
        ]
    return "\n".join([*lines, "", *satisfaction])


class DailyDigest:
    def __init__(
        self, database: Database, config: OperatorsConfig, chats: Sequence[int], clock: Clock
    ) -> None:
        self._database = database
        self._clock = clock
        # Digests being sent by the job queue, which a stop waits for (see stop()).
        self._sending: set[asyncio.Task[object]] = set()
        self._config = config
        self._chats = list(chats)

    def schedule(self, jobs: TimedJobs) -> None:
        """Run the digest every day at the configured local time, if there is one."""
        at = self._config.digest_time
        if at is None or not self._chats:
            return
        jobs.daily(self._run, at.replace(tzinfo=self._config.zone), JOB_NAME)
        log.info("daily mood digest at %s %s", at.strftime("%H:%M"), self._config.timezone)

    async def _run(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sending.add(task)
        try:
            await self.send(context.bot, self._clock())
        finally:
            self._sending.discard(task)

    async def stop(self, grace: float) -> None:
        """Stopping: a digest still being sent gets `grace` seconds, then is cancelled. The
        job queue waits for its jobs at shutdown, and a digest waiting out flood control
        must not keep the bot from stopping within its stop timeout."""
        if not self._sending:
            return
        _, late = await asyncio.wait(self._sending, timeout=grace)
        for task in late:
            log.warning("stopping: the mood digest was still being sent; it is abandoned")
            task.cancel()

    async def compose(self, now: datetime) -> Digest:
        """The digest as of `now`: about the local day before it."""
        zone = self._config.zone
        first, yesterday = last_days(CHART_DAYS, zone, now, include_today=False)
        week = await daily_moods(self._database, first, yesterday, zone)
        day_start = local_midnight(yesterday, zone)
        day_end = local_midnight(yesterday + timedelta(days=1), zone)
        unhappy = await most_negative_customers(self._database, day_start, day_end, TOP_CUSTOMERS)
        satisfaction = await satisfaction_for_days(self._database, yesterday, yesterday, zone)
        answers = await answers_for_days(self._database, yesterday, yesterday, zone)
        intents = await moods_by_intent(self._database, day_start, day_end)
        chart = None
        if not week.is_empty:
            # The chart is the week's: its intents beside its moods.
            week_intents = await moods_by_intent(
                self._database, local_midnight(first, zone), day_end
            )
            chart = await asyncio.to_thread(render_mood_chart, week, week_intents)
        text = digest_text(week, unhappy, [*satisfaction, *answers], intents)
        return Digest(text, chart, week)

    async def send(self, bot: Bot, now: datetime) -> None:
        digest = await self.compose(now)
        for chat_id in self._chats:
            try:
                await _send_to(bot, chat_id, digest)
            except (DeliveryFailed, TelegramError) as exc:
                log.warning("chat %s: could not deliver the digest: %s", chat_id, exc)


async def _send_to(bot: Bot, chat_id: int, digest: Digest) -> None:
    await deliver(lambda: bot.send_message(chat_id, digest.text), f"chat {chat_id}: digest")
    chart = digest.chart
    if chart is None:
        return
    caption = f"Moods {period_text(digest.week)}\n{summary_text(digest.week)}"
    await deliver(
        lambda: bot.send_photo(chat_id, chart, caption=caption, filename="moods.png"),
        f"chat {chat_id}: digest chart",
    )
