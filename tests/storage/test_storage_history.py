"""history: the window of turns a reply sees."""

from __future__ import annotations

from storage import CustomerInfo, HistoryTurn, Store, StoredMessage

ANN = CustomerInfo(id=7_000_000_001, name="Ann", language="en")
BO = CustomerInfo(id=7_000_000_002, name="波", language="zh")
GROUP = -1_001_234_567_890

_next_telegram_id = iter(range(1, 1_000_000))


async def _exchange(store: Store, customer: CustomerInfo, text: str, chat: int = GROUP) -> None:
    """A customer's message and its answer, as the bot stores them."""
    message = await _ask(store, customer, text, chat)
    await store.record_answer(message.id, f"re: {text}", next(_next_telegram_id))


async def _ask(store: Store, customer: CustomerInfo, text: str, chat: int = GROUP) -> StoredMessage:
    message, _ = await store.record_incoming(chat, customer, text, next(_next_telegram_id))
    return message


def _turns(*texts: str) -> list[HistoryTurn]:
    turns: list[HistoryTurn] = []
    for text in texts:
        turns += [HistoryTurn("user", text), HistoryTurn("assistant", f"re: {text}")]
    return turns


async def test_history_is_oldest_first_and_stops_before_the_message(store: Store) -> None:
    await _exchange(store, ANN, "one")
    await _exchange(store, ANN, "two")
    current = await _ask(store, ANN, "three")

    assert await store.history(GROUP, ANN.id, current.id) == _turns("one", "two")


async def test_history_excludes_the_message_and_everything_after_it(store: Store) -> None:
    await _exchange(store, ANN, "one")
    middle = await _ask(store, ANN, "two")
    await store.record_answer(middle.id, "re: two", None)
    await _exchange(store, ANN, "three")

    assert await store.history(GROUP, ANN.id, middle.id) == _turns("one")


async def test_history_starts_after_the_last_reset_in_that_chat(store: Store) -> None:
    await _exchange(store, ANN, "before first reset")
    await store.reset_conversation(GROUP, ANN.id)
    await _exchange(store, ANN, "between resets")
    await store.reset_conversation(GROUP, ANN.id)
    await _exchange(store, ANN, "after")
    await store.reset_conversation(ANN.id, ANN.id)
    current = await _ask(store, ANN, "now")

    assert await store.history(GROUP, ANN.id, current.id) == _turns("after")


async def test_history_right_after_a_reset_is_empty(store: Store) -> None:
    await _exchange(store, ANN, "old")
    await store.reset_conversation(GROUP, ANN.id)
    current = await _ask(store, ANN, "new")

    assert await store.history(GROUP, ANN.id, current.id) == []


async def test_customers_in_one_group_have_separate_histories(store: Store) -> None:
    await _exchange(store, ANN, "ann one")
    await _exchange(store, BO, "波 一")
    await _exchange(store, ANN, "ann two")
    await store.reset_conversation(GROUP, BO.id)
    await _exchange(store, BO, "波 二")
    ann_now = await _ask(store, ANN, "ann three")
    bo_now = await _ask(store, BO, "波 三")

    assert await store.history(GROUP, ANN.id, ann_now.id) == _turns("ann one", "ann two")
    assert await store.history(GROUP, BO.id, bo_now.id) == _turns("波 二")


async def test_other_chats_of_the_customer_stay_out(store: Store) -> None:
    await _exchange(store, ANN, "private", chat=ANN.id)
    current = await _ask(store, ANN, "in the group")

    assert await store.history(GROUP, ANN.id, current.id) == []


async def test_unanswered_messages_stay_out(store: Store) -> None:
    failed = await _ask(store, ANN, "failed")
    await store.mark_failed(failed.id, "Telegram outage")
    await _ask(store, ANN, "still pending")
    await _exchange(store, ANN, "answered")
    current = await _ask(store, ANN, "now")

    assert await store.history(GROUP, ANN.id, current.id) == _turns("answered")


async def test_an_answer_written_later_stays_with_its_question(store: Store) -> None:
    # After a restart both were pending; the first is answered after the second arrived.
    first = await _ask(store, ANN, "first")
    second = await _ask(store, ANN, "second")
    await store.record_answer(first.id, "re: first", None)

    assert await store.history(GROUP, ANN.id, second.id) == _turns("first")


async def test_history_keeps_the_most_recent_turns_within_the_limit(store: Store) -> None:
    for n in range(4):
        await _exchange(store, ANN, f"turn {n}")
    current = await _ask(store, ANN, "now")

    history = await store.history(GROUP, ANN.id, current.id, limit=3)

    assert history == _turns("turn 2", "turn 3")[1:]


async def test_a_customer_turn_carries_the_mood_it_was_answered_with(store: Store) -> None:
    message = await _ask(store, ANN, "it broke again")
    await store.set_mood(message.id, "negative", 0.93)
    await store.record_answer(message.id, "re: it broke again", next(_next_telegram_id))
    current = await _ask(store, ANN, "thanks")

    assert await store.history(GROUP, ANN.id, current.id) == [
        HistoryTurn("user", "it broke again", "negative"),
        HistoryTurn("assistant", "re: it broke again"),
    ]
