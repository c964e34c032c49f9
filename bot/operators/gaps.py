"""What the facts file lacks: /gaps (and `moodbot gaps`) groups the questions the bot handed to
a person by what they ask, the most frequent first, with how many an operator answered and how
many were saved as desk facts: what to write into the facts file next."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.delivery import deliver
from bot.formatting import TELEGRAM_LIMIT, shorten
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.operators.periods import one_period, parse_period
from engine.knowledge.gaps import common_words, group_questions
from storage import Clock, Database
from storage.desk_facts import DeskFacts, HandedOffQuestion

USAGE = "Usage: /gaps [24h|7d|30d] (default 7d)"
DEFAULT_PERIOD = timedelta(days=7)
# What one message shows: the largest groups, a few distinct questions of each.
SHOWN_GROUPS = 10
SHOWN_EXAMPLES = 3
EXAMPLE_CHARS = 80


@dataclass(frozen=True)
class Gap:
    """Handed-off questions that ask the same."""

    words: tuple[str, ...]
    questions: tuple[HandedOffQuestion, ...]

    @property
    def answered(self) -> int:
        return sum(question.answered for question in self.questions)

    @property
    def saved(self) -> int:
        return sum(question.saved for question in self.questions)

    def examples(self, count: int) -> list[str]:
        """Up to `count` distinct wordings, in the order they were asked."""
        seen: dict[str, None] = {}
        for question in self.questions:
            seen.setdefault(" ".join(question.text.split()), None)
        return list(seen)[:count]


def find_gaps(questions: Sequence[HandedOffQuestion]) -> list[Gap]:
    """The questions grouped by what they ask, the most frequent first."""
    texts = [question.text for question in questions]
    return [
        Gap(
            tuple(common_words([texts[i] for i in members])),
            tuple(questions[i] for i in members),
        )
        for members in group_questions(texts)
    ]


def gap_lines(rank: int, gap: Gap) -> list[str]:
    about = ", ".join(gap.words) or "(no shared words)"
    asked = len(gap.questions)
    examples = " · ".join(
        f"“{shorten(text, EXAMPLE_CHARS)}”" for text in gap.examples(SHOWN_EXAMPLES)
    )
    return [
        f"{rank}. {about}: asked {asked}×, {gap.answered} answered by an operator, "
        f"{gap.saved} saved as a fact",
        f"   {examples}",
    ]


def gaps_text(
    gaps: Sequence[Gap], since: datetime, zone: ZoneInfo, shown: int = SHOWN_GROUPS
) -> str:
    asked = sum(len(gap.questions) for gap in gaps)
    when = f"since {since.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
    if not gaps:
        return f"🕳 No questions were handed to a person {when}: the facts covered them."
    lines = [
        f"🕳 {asked} questions handed to a person {when}, in {len(gaps)} groups, the most "
        "frequent first: what to add to the facts file next."
    ]
    listed = 0
    for rank, gap in enumerate(gaps[:shown], start=1):
        more = gap_lines(rank, gap)
        # Room for the closing line: one Telegram message holds it all.
        if len("\n".join([*lines, "", *more])) > TELEGRAM_LIMIT - 100:
            break
        lines += ["", *more]
        listed = rank
    if len(gaps) > listed:
        lines += ["", f"… and {len(gaps) - listed} smaller groups (moodbot gaps lists all)."]
    return "\n".join(lines)


async def gaps_since(database: Database, since: datetime) -> list[Gap]:
    questions = await DeskFacts(database).handed_off(since)
    # Segmenting a week of questions (jieba loads its dictionary first): not on the event loop.
    return await asyncio.to_thread(find_gaps, questions)


class ContentGaps:
    def __init__(
        self, gate: OperatorGate, database: Database, zone: ZoneInfo, clock: Clock
    ) -> None:
        self._gate = gate
        self._zone = zone
        self._database = database
        self._clock = clock

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CommandHandler("gaps", then_stop(self.on_gaps), filters=filters.UpdateType.MESSAGE),
            group=OPERATOR_HANDLER_GROUP,
        )

    async def on_gaps(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := await self._gate.command(update)) is None:
            return
        try:
            period = one_period(context.args or [], parse_period, DEFAULT_PERIOD)
        except ValueError as exc:
            reply = f"{exc}\n{USAGE}"
        else:
            since = self._clock() - period
            reply = gaps_text(await gaps_since(self._database, since), since, self._zone)
        await deliver(lambda: message.reply_text(reply), f"chat {message.chat_id}: gaps")
