"""/queue: the conversations waiting for a person, most negative and longest waiting first,
each with a link to the customer's topic. Where triage read what they want, they are grouped
by intent: the intent of the most urgent conversation first, and so on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.delivery import deliver
from bot.formatting import shorten
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.operators.log_view import customer_text
from bot.operators.triage import INTENT_MARK
from engine.vocabulary import MOOD_EMOJI
from storage import Clock, Database
from storage.desk import DeskStore
from storage.desk_queue import Waiting, waiting_for_a_person

MAX_SHOWN = 30
NO_INTENT = "no intent"
# Supergroup ids are -100 followed by the id that t.me links use.
_SUPERGROUP_PREFIX = "-100"


def topic_link(forum_chat: int, thread_id: int) -> str:
    digits = str(forum_chat)
    internal = (
        digits[len(_SUPERGROUP_PREFIX) :] if digits.startswith(_SUPERGROUP_PREFIX) else digits
    )
    return f"https://t.me/c/{internal.lstrip('-')}/{thread_id}"


def waited_text(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


def queue_line(number: int, item: Waiting, now: datetime, link: str | None) -> str:
    mood = (
        f"{MOOD_EMOJI[item.mood_label]} {item.mood_confidence or 0:.0%}"
        if item.mood_label is not None
        else "·"
    )
    who = customer_text(item.name, item.username, item.customer_id)
    lines = [
        f"{number}. {mood} {who} · {', '.join(item.reasons)} · waiting "
        f"{waited_text(item.since, now)}",
        f"   “{shorten(item.text, 80)}”",
    ]
    if link is not None:
        lines.append(f"   {link}")
    return "\n".join(lines)


def intent_groups(waiting: Sequence[Waiting]) -> list[tuple[str | None, list[Waiting]]]:
    """The conversations (most urgent first) by intent, each group in that order: the group of
    the most urgent conversation first, then the group of the most urgent one left, and so on.
    None: the conversations whose intent was not read."""
    groups: dict[str | None, list[Waiting]] = {}
    for item in waiting:
        groups.setdefault(item.intent, []).append(item)
    return list(groups.items())


def grouped_by_intent(waiting: Sequence[Waiting], by_intent: bool) -> bool:
    """Whether the queue shows intent headings: triage on and some intent read."""
    return by_intent and any(item.intent is not None for item in waiting)


def shown_order(waiting: Sequence[Waiting], by_intent: bool) -> list[Waiting]:
    """The conversations in the order the queue numbers them."""
    if not grouped_by_intent(waiting, by_intent):
        return list(waiting)
    return [item for _, items in intent_groups(waiting) for item in items]


def queue_text(
    waiting: Sequence[Waiting],
    now: datetime,
    links: Mapping[int, str],
    *,
    by_intent: bool,
) -> str:
    """The queue, numbered in the order shown; grouped under a heading per intent when
    `by_intent` and an intent was read for any of them. `links`: topic links by customer."""
    if not waiting:
        return "Nobody is waiting for a person."
    lines = [f"Waiting for a person: {len(waiting)}"]
    grouped = grouped_by_intent(waiting, by_intent)
    groups = intent_groups(waiting) if grouped else [(None, list(waiting))]
    number = 0
    for intent, items in groups:
        if number == MAX_SHOWN:
            break
        if grouped:
            lines += ["", f"{INTENT_MARK} {intent or NO_INTENT} ({len(items)})"]
        for item in items[: MAX_SHOWN - number]:
            number += 1
            lines.append(queue_line(number, item, now, links.get(item.customer_id)))
    if len(waiting) > MAX_SHOWN:
        lines.append(f"… and {len(waiting) - MAX_SHOWN} more")
    return "\n".join(lines)


class WaitingQueue:
    def __init__(
        self,
        gate: OperatorGate,
        database: Database,
        forum_chat: int | None,
        clock: Clock,
        *,
        by_intent: bool = False,
    ) -> None:
        self._gate = gate
        # Triage on: the queue is grouped by what the customers want.
        self._by_intent = by_intent
        self._database = database
        self._desk = DeskStore(database)
        self._forum_chat = forum_chat if forum_chat is not None and forum_chat < 0 else None
        self._clock = clock

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CommandHandler("queue", then_stop(self.on_queue), filters=filters.UpdateType.MESSAGE),
            group=OPERATOR_HANDLER_GROUP,
        )

    async def text(self) -> str:
        waiting = await waiting_for_a_person(self._database)
        links = {}
        for item in shown_order(waiting, self._by_intent)[:MAX_SHOWN]:
            if item.customer_id not in links and (link := await self._link(item.customer_id)):
                links[item.customer_id] = link
        return queue_text(waiting, self._clock(), links, by_intent=self._by_intent)

    async def _link(self, customer_id: int) -> str | None:
        if self._forum_chat is None:
            return None
        topic = await self._desk.topic(self._forum_chat, customer_id)
        return None if topic is None else topic_link(self._forum_chat, topic.thread_id)

    async def on_queue(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := await self._gate.command(update)) is None:
            return
        reply = await self.text()
        await deliver(lambda: message.reply_text(reply), f"chat {message.chat_id}: queue")
