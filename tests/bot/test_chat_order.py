"""bot/chat_order.py on its own: per-chat order, concurrency across chats, barriers, storing
on arrival, and the bounded stop. Updates are built in memory; no Telegram, no database."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from telegram import Chat, Message, Update

from bot.chat_order import Arrival, ChatLocks, Intake, PerChatUpdateProcessor

_IDS = itertools.count(1)
SENT = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)


def update(chat_id: int, text: str) -> Update:
    number = next(_IDS)
    chat = Chat(chat_id, Chat.PRIVATE if chat_id > 0 else Chat.GROUP)
    return Update(number, message=Message(number, SENT, chat, text=text))


@dataclass
class Recorder:
    """Handlers that log when they start and end, and wait for a gate when told to."""

    events: list[str] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)

    def gate(self, text: str) -> asyncio.Event:
        return self.gates.setdefault(text, asyncio.Event())

    async def handle(self, text: str) -> None:
        self.events.append(f"start {text}")
        if text in self.gates:
            await self.gates[text].wait()
        else:
            # A suspension in the middle, where an unordered processor would interleave.
            await asyncio.sleep(0)
        self.events.append(f"end {text}")

    def handled(self) -> list[str]:
        return [event.removeprefix("end ") for event in self.events if event.startswith("end")]


def submit(
    processor: PerChatUpdateProcessor,
    recorder: Recorder,
    chat_id: int,
    text: str,
) -> asyncio.Task[None]:
    """As python-telegram-bot does: one task per update, created in arrival order."""
    return asyncio.create_task(
        processor.process_update(update(chat_id, text), recorder.handle(text))
    )


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class StoringIntake:
    """An intake that calls "/reset" a barrier and records what was stored on arrival; what
    is set aside is answered through `recorder`, as storage would give it: in arrival order."""

    def __init__(
        self,
        fail_for: tuple[str, ...] = (),
        unreadable: tuple[str, ...] = (),
        recorder: Recorder | None = None,
    ) -> None:
        self.stored: list[str] = []
        self.set_aside_texts: list[str] = []
        self._fail_for = fail_for
        self._unreadable = unreadable
        self._recorder = recorder
        self._unanswered: dict[int, list[str]] = {}

    def arrival(self, update: Update) -> Arrival:
        text = update.effective_message.text if update.effective_message else None
        if text in self._unreadable:
            raise ValueError("cannot tell")
        return "barrier" if text == "/reset" else "message"

    async def store_on_arrival(self, update: Update) -> bool:
        assert update.effective_message is not None
        text = update.effective_message.text or ""
        await asyncio.sleep(0)
        if text in self._fail_for:
            return False
        self.stored.append(text)
        return True

    def set_aside(self, update: Update) -> None:
        assert update.effective_message is not None and update.effective_chat is not None
        text = update.effective_message.text or ""
        self.set_aside_texts.append(text)
        self._unanswered.setdefault(update.effective_chat.id, []).append(text)

    async def answer_set_aside(self, chat_id: int) -> None:
        assert self._recorder is not None
        # One read of storage: what is set aside meanwhile waits for the next call.
        found, self._unanswered[chat_id] = self._unanswered.get(chat_id, []), []
        for text in found:
            await self._recorder.handle(text)

    def intake(self) -> Intake:
        return Intake(self.arrival, self.store_on_arrival, self.set_aside, self.answer_set_aside)


def processor_with(intake: StoringIntake | None = None) -> PerChatUpdateProcessor:
    processor = PerChatUpdateProcessor(ChatLocks())
    if intake is not None:
        processor.intake = intake.intake()
    return processor


async def test_a_chats_updates_are_handled_one_at_a_time_in_arrival_order() -> None:
    processor, recorder = processor_with(), Recorder()
    recorder.gate("one")
    tasks = [submit(processor, recorder, 1, text) for text in ("one", "two", "three", "four")]
    await settle()
    assert recorder.events == ["start one"], "the rest wait for the first"
    recorder.gate("one").set()
    await asyncio.gather(*tasks)
    assert recorder.events == [
        f"{edge} {text}" for text in ("one", "two", "three", "four") for edge in ("start", "end")
    ]


async def test_other_chats_go_on_while_one_chat_waits() -> None:
    processor, recorder = processor_with(), Recorder()
    recorder.gate("slow")
    slow = submit(processor, recorder, 1, "slow")
    others = [submit(processor, recorder, chat, f"chat {chat}") for chat in (2, 3, -4)]
    await asyncio.wait_for(asyncio.gather(*others), timeout=5)
    assert recorder.handled() == ["chat 2", "chat 3", "chat -4"]
    assert not slow.done()
    recorder.gate("slow").set()
    await slow


async def test_cancel_jumps_the_queue_of_its_chat() -> None:
    processor, recorder = processor_with(), Recorder()
    recorder.gate("long answer")
    answer = submit(processor, recorder, 1, "long answer")
    waiting = submit(processor, recorder, 1, "next question")
    await settle()
    await asyncio.wait_for(submit(processor, recorder, 1, "/cancel"), timeout=5)
    assert recorder.handled() == ["/cancel"]
    recorder.gate("long answer").set()
    await asyncio.gather(answer, waiting)
    assert recorder.handled() == ["/cancel", "long answer", "next question"]


async def test_messages_are_stored_on_arrival_while_their_chat_is_busy() -> None:
    intake, recorder = StoringIntake(), Recorder()
    processor = processor_with(intake)
    recorder.gate("first")
    tasks = [submit(processor, recorder, 1, text) for text in ("first", "second", "third")]
    await settle()
    assert recorder.handled() == []
    assert intake.stored == ["first", "second", "third"]
    recorder.gate("first").set()
    await asyncio.gather(*tasks)
    assert recorder.handled() == ["first", "second", "third"]


async def test_messages_behind_a_barrier_are_stored_in_their_turn_only() -> None:
    intake, recorder = StoringIntake(), Recorder()
    processor = processor_with(intake)
    recorder.gate("before")
    texts = ("before", "/reset", "after", "later")
    tasks = [submit(processor, recorder, 1, text) for text in texts]
    # Another chat is not held back by this chat's barrier.
    await asyncio.wait_for(submit(processor, recorder, 2, "elsewhere"), timeout=5)
    assert intake.stored == ["before", "elsewhere"]
    recorder.gate("before").set()
    await asyncio.gather(*tasks)
    assert recorder.handled() == ["elsewhere", *texts]
    # Once the barrier is handled, a new message is stored on arrival again.
    recorder.gate("again")
    again = submit(processor, recorder, 1, "again")
    await settle()
    assert intake.stored[-1] == "again"
    recorder.gate("again").set()
    await again


@pytest.mark.parametrize(
    "make_intake",
    [
        lambda: StoringIntake(fail_for=("unsaved",)),
        lambda: StoringIntake(unreadable=("unsaved",)),
    ],
    ids=["store failed", "arrival unreadable"],
)
async def test_an_update_not_stored_on_arrival_is_a_barrier(
    make_intake: Callable[[], StoringIntake],
) -> None:
    intake, recorder = make_intake(), Recorder()
    processor = processor_with(intake)
    recorder.gate("first")
    tasks = [submit(processor, recorder, 1, text) for text in ("first", "unsaved", "behind")]
    await settle()
    # Stored early, "behind" would be stored before "unsaved", which is stored in its turn.
    assert intake.stored == ["first"]
    recorder.gate("first").set()
    await asyncio.gather(*tasks)
    assert recorder.handled() == ["first", "unsaved", "behind"]


async def test_a_chats_lock_is_dropped_once_nobody_waits_for_it() -> None:
    locks = ChatLocks()
    processor = PerChatUpdateProcessor(locks)
    recorder = Recorder()
    recorder.gate("a")
    tasks = [submit(processor, recorder, chat, "a" if chat == 1 else "b") for chat in (1, 2)]
    await settle()
    assert len(locks) == 1
    recorder.gate("a").set()
    await asyncio.gather(*tasks)
    assert len(locks) == 0


async def test_stopping_cancels_an_update_that_outlives_the_grace() -> None:
    processor, recorder = processor_with(), Recorder()
    recorder.gate("stuck")
    stuck = submit(processor, recorder, 1, "stuck")
    queued = submit(processor, recorder, 1, "queued")
    await settle()
    processor.limit_updates(0.05)
    # The stuck one is cancelled at the grace; the queued one then gets its turn.
    await asyncio.wait_for(asyncio.gather(stuck, queued), timeout=5)
    assert recorder.handled() == ["queued"]


async def test_a_flooding_chat_holds_one_slot_and_every_message_is_stored_on_arrival() -> None:
    intake, recorder = StoringIntake(), Recorder()
    processor = PerChatUpdateProcessor(ChatLocks(), max_concurrent_updates=2)
    processor.intake = intake.intake()
    flood = [f"flood {n}" for n in range(10)]
    recorder.gate(flood[0])
    tasks = [submit(processor, recorder, 1, text) for text in flood]
    await settle()
    # Every message of the flood is stored though only one of them can run.
    assert intake.stored == flood
    # Other chats still find a free slot.
    await asyncio.wait_for(submit(processor, recorder, 2, "other chat"), timeout=5)
    recorder.gate(flood[0]).set()
    await asyncio.gather(*tasks)
    assert recorder.handled() == ["other chat", *flood]


async def test_at_most_max_concurrent_updates_are_handled_at_once() -> None:
    processor, recorder = PerChatUpdateProcessor(ChatLocks(), max_concurrent_updates=2), Recorder()
    for chat in (1, 2, 3):
        recorder.gate(f"chat {chat}")
    tasks = [submit(processor, recorder, chat, f"chat {chat}") for chat in (1, 2, 3)]
    await settle()
    assert recorder.events == ["start chat 1", "start chat 2"]
    recorder.gate("chat 1").set()
    await settle()
    assert recorder.events[-1] == "start chat 3"
    recorder.gate("chat 2").set()
    recorder.gate("chat 3").set()
    await asyncio.gather(*tasks)


async def test_a_chat_over_its_cap_has_its_messages_stored_and_answered_later_in_order() -> None:
    recorder = Recorder()
    intake = StoringIntake(recorder=recorder)
    processor = PerChatUpdateProcessor(ChatLocks(), max_held_per_chat=3)
    processor.intake = intake.intake()
    flood = [f"flood {n}" for n in range(12)]
    recorder.gate(flood[0])
    tasks = [submit(processor, recorder, 1, text) for text in flood]
    await settle(200)
    assert intake.stored == flood
    # Three held, plus one turn that answers the rest from storage.
    assert sum(not task.done() for task in tasks) == 4
    assert intake.set_aside_texts == flood[3:]
    # While those wait, a new message is set aside behind them, never given a turn ahead.
    recorder.gate("late")
    late = submit(processor, recorder, 1, "late")
    await settle(200)
    assert late.done() and intake.set_aside_texts[-1] == "late"
    recorder.gate(flood[0]).set()
    await settle(200)
    assert recorder.handled() == flood
    # Set aside while the others were being answered: answered in another round.
    intake_arrival = submit(processor, recorder, 1, "during")
    await settle(200)
    recorder.gate("late").set()
    await asyncio.wait_for(asyncio.gather(*tasks, late, intake_arrival), timeout=5)
    assert recorder.handled() == [*flood, "late", "during"]
    # Once they are answered, a message gets its own turn again.
    await asyncio.wait_for(submit(processor, recorder, 1, "afterwards"), timeout=5)
    assert intake.set_aside_texts[-1] == "during"
    assert recorder.handled()[-1] == "afterwards"


async def test_the_cap_holds_per_chat_and_spares_other_chats() -> None:
    recorder = Recorder()
    intake = StoringIntake(recorder=recorder)
    processor = PerChatUpdateProcessor(ChatLocks(), max_held_per_chat=2)
    processor.intake = intake.intake()
    recorder.gate("busy 0")
    busy = [submit(processor, recorder, 1, f"busy {n}") for n in range(2)]
    quiet = [submit(processor, recorder, 2, f"quiet {n}") for n in range(2)]
    await asyncio.wait_for(asyncio.gather(*quiet), timeout=5)
    assert intake.set_aside_texts == []
    recorder.gate("busy 0").set()
    await asyncio.gather(*busy)
