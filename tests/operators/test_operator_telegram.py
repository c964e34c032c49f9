"""Operator commands, alerts, corrections and the digest through the fake Telegram server."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import matplotlib.image

from bench.fake_telegram import BotMessage, FakeTelegram
from bot.config import OperatorsConfig
from bot.operators.access import REFUSAL
from bot.operators.digest import JOB_NAME
from bot.service import BotService
from storage import CustomerInfo, Store
from storage.answer_flags import flag_answer
from storage.customer_export import export_customer
from storage.mood_log import MoodFilter, MoodLog
from tests.mood_log_seed import tagged
from tests.operators.bot_support import (
    ANSWER_TIMEOUT,
    CUSTOMER,
    NOW,
    OPERATOR,
    OTHER_OPERATOR,
    operator_config,
    running_bot,
)

ANN = CustomerInfo(id=CUSTOMER, name="Ann", username="ann_k")
BO = CustomerInfo(id=100_002, name="波", language="zh")


async def reply_to(
    fake: FakeTelegram, chat_id: int, command: str, count: int = 1
) -> list[BotMessage]:
    """Send `command` in the chat and wait for the bot's next `count` messages there."""
    before = len(fake.messages(chat_id))
    fake.send_text(chat_id, chat_id, command)
    messages = await fake.wait_for_messages(chat_id, before + count, timeout=ANSWER_TIMEOUT)
    return messages[before:]


async def test_non_operators_are_refused_and_learn_nothing(
    fake: FakeTelegram, bot: BotService
) -> None:
    await tagged(bot.database, ANN, "sad thing", "negative", 0.9)
    await tagged(bot.database, BO, "glad", "positive", 0.9)
    fake.add_user(BO.id, language_code="zh-hans")

    refusals = [
        *await reply_to(fake, CUSTOMER, "/moodlog"),
        *await reply_to(fake, CUSTOMER, "/moodlog negative 30d @ann_k"),
        *await reply_to(fake, CUSTOMER, "/moodstats 30d"),
        *await reply_to(fake, BO.id, "/moodstats"),
    ]

    assert [message.text for message in refusals] == [REFUSAL["en"]] * 3 + [REFUSAL["zh"]]
    assert all(message.reply_markup is None for message in refusals)
    assert not any(re.search(r"\d", message.text) for message in refusals)
    assert fake.photos == []


async def test_moodlog_lists_the_latest_messages_newest_first(
    fake: FakeTelegram, bot: BotService
) -> None:
    await tagged(
        bot.database, ANN, "sad: the app crashed", "negative", 0.91, NOW - timedelta(days=2)
    )
    await tagged(bot.database, BO, "太慢了", "negative", 0.88, NOW - timedelta(hours=3))
    await tagged(bot.database, ANN, "glad it works", "positive", 0.93, NOW - timedelta(hours=1))
    await tagged(bot.database, ANN, "very old", "negative", 0.8, NOW - timedelta(days=40))

    [everything] = await reply_to(fake, OPERATOR, "/moodlog")
    [filtered] = await reply_to(fake, OPERATOR, "/moodlog negative 7d @ann_k")
    [by_id] = await reply_to(fake, OPERATOR, f"/moodlog 24h {BO.id}")

    lines = everything.text.splitlines()
    assert lines[0] == "Mood log"
    assert lines[1].startswith("4 messages, page 1 of 1, newest first (times in UTC")
    entries = lines[3:]
    assert [line.rsplit(" · ", 1)[1] for line in entries] == [
        "glad it works",
        "太慢了",
        "sad: the app crashed",
        "very old",
    ]
    assert " · Ann (@ann_k, 100001) · 😄 93% · " in entries[0]
    assert " · 波 (100002) · 😢 88% · " in entries[1]
    assert everything.reply_markup is None
    filtered_lines = filtered.text.splitlines()
    assert filtered_lines[0].startswith("Mood log · 😢 negative · since ")
    assert filtered_lines[0].endswith(f" · customer {CUSTOMER}")
    assert [line.rsplit(" · ", 1)[1] for line in filtered_lines[3:]] == ["sad: the app crashed"]
    assert by_id.text.splitlines()[3].endswith("太慢了")


async def test_moodlog_pages_with_buttons(fake: FakeTelegram, bot: BotService) -> None:
    for n in range(23):
        await tagged(
            bot.database, ANN, f"note {n}", "neutral", 0.6, NOW - timedelta(minutes=60 - n)
        )

    [first] = await reply_to(fake, OPERATOR, "/moodlog")
    assert "23 messages, page 1 of 3" in first.text
    assert first.text.splitlines()[3].endswith("note 22")
    [[older]] = first.reply_markup["inline_keyboard"]  # type: ignore[index]
    assert older["text"] == "older »"

    # A message arriving meanwhile does not shift the pages of a listing already shown.
    await tagged(bot.database, BO, "newcomer", "neutral", 0.6, NOW)
    fake.press_button(OPERATOR, OPERATOR, first.message_id, older["callback_data"])
    second = await fake.wait_for(
        lambda: (m := fake.message(OPERATOR, first.message_id)).edits and m, ANSWER_TIMEOUT
    )
    assert "23 messages, page 2 of 3" in second.text
    assert second.text.splitlines()[3].endswith("note 12")
    [[newer, older_again]] = second.reply_markup["inline_keyboard"]  # type: ignore[index]
    assert (newer["text"], older_again["text"]) == ("« newer", "older »")
    await fake.wait_for(lambda: fake.callback_answers, ANSWER_TIMEOUT)

    fake.press_button(OPERATOR, OPERATOR, first.message_id, older_again["callback_data"])
    third = await fake.wait_for(
        lambda: len((m := fake.message(OPERATOR, first.message_id)).edits) == 2 and m,
        ANSWER_TIMEOUT,
    )
    assert "page 3 of 3" in third.text
    assert [line.rsplit(" · ", 1)[1] for line in third.text.splitlines()[3:]] == [
        "note 2",
        "note 1",
        "note 0",
    ]


async def test_moodlog_and_moodstats_explain_bad_arguments(
    fake: FakeTelegram, bot: BotService
) -> None:
    [bad_log] = await reply_to(fake, OPERATOR, "/moodlog furious")
    [unknown_user] = await reply_to(fake, OPERATOR, "/moodlog @nobody")
    [bad_stats] = await reply_to(fake, OPERATOR, "/moodstats 36h")

    assert bad_log.text.startswith("I don't understand 'furious'.\nUsage: /moodlog")
    assert unknown_user.text == "No customer @nobody is known."
    assert "not whole days" in bad_stats.text and "Usage: /moodstats" in bad_stats.text


async def test_moodstats_sends_the_chart_and_the_numbers(
    fake: FakeTelegram, bot: BotService
) -> None:
    messages = [
        await tagged(bot.database, ANN, text, label, 0.9, NOW - timedelta(minutes=5))
        for text, label in [
            ("a", "positive"),
            ("b", "negative"),
            ("c", "negative"),
            ("d", "neutral"),
        ]
    ]
    await tagged(bot.database, ANN, "last week", "negative", 0.9, NOW - timedelta(days=3))
    too_old = await tagged(bot.database, ANN, "too old", "positive", 0.9, NOW - timedelta(days=9))
    # Two answers from the facts in the week, one flagged wrong; an older flag is not counted.
    store = Store(bot.database)
    for message in (messages[0], messages[1], too_old):
        await store.record_answer(message.id, "😐 Yes.", None, ["We ship within China."])
    for message in (messages[1], too_old):
        await flag_answer(bot.database, message.id, OPERATOR, NOW)

    chart, numbers = await reply_to(fake, OPERATOR, "/moodstats 7d", count=2)

    [photo] = fake.photos
    assert chart.kind == "photo" and photo.message_id == chart.message_id
    assert photo.data is not None and photo.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert matplotlib.image.imread(io.BytesIO(photo.data), format="png").shape[:2] == (480, 900)
    assert photo.caption.splitlines()[1] == "5 messages: 😄 1 · 😐 1 · 😢 3 · 60% negative"
    days, satisfaction = numbers.text.split("\n\n")
    days = days.splitlines()
    assert satisfaction.splitlines() == [
        "Satisfaction: no conversation ended in this period.",
        "Answers: 2 by the bot (2 from the facts), 0 handed to a person",
        "  flagged wrong by operators: 1 of 2 (50.0% error rate)",
        "Model and operators: no corrections in this period.",
    ]
    assert len(days) == 7
    assert days[-1] == f"{NOW:%a %m-%d}: 4 · 😄 1 · 😐 1 · 😢 2 · 50% negative"
    assert days[-4] == f"{NOW - timedelta(days=3):%a %m-%d}: 1 · 😄 0 · 😐 0 · 😢 1 · 100% negative"


async def test_moodstats_for_a_period_without_messages_says_so(
    fake: FakeTelegram, bot: BotService
) -> None:
    await tagged(bot.database, ANN, "long ago", "negative", 0.9, NOW - timedelta(days=60))

    [answer] = await reply_to(fake, OPERATOR, "/moodstats 30d")

    assert answer.kind == "text"
    assert answer.text.startswith("No tagged messages in ")
    assert answer.text.endswith("(UTC).")
    assert fake.photos == []


async def test_a_confident_negative_message_alerts_and_a_correction_round_trips(
    fake: FakeTelegram, bot: BotService
) -> None:
    fake.send_text(CUSTOMER, CUSTOMER, "glad you called back")
    await fake.wait_for_messages(CUSTOMER, 1, timeout=ANSWER_TIMEOUT)
    fake.send_text(CUSTOMER, CUSTOMER, "sad: the refund never arrived")
    await fake.wait_for_messages(CUSTOMER, 2, timeout=ANSWER_TIMEOUT)

    # Without operators.chat_id every operator is alerted in their private chat.
    [alert] = await fake.wait_for_messages(OPERATOR, 1, timeout=ANSWER_TIMEOUT)
    [other_alert] = await fake.wait_for_messages(OTHER_OPERATOR, 1, timeout=ANSWER_TIMEOUT)
    assert other_alert.text == alert.text
    lines = alert.text.splitlines()
    assert lines[0] == "⚠️ Mood alert: negative at 97% confidence (alerts above 90%)"
    assert lines[1] == f"Customer: Ann (@ann_k, {CUSTOMER}) · chat {CUSTOMER}"
    assert "😢 97%: sad: the refund never arrived" in lines
    assert lines[-2] == "Before that (oldest first):"
    assert lines[-1].endswith("😄 92% · glad you called back")
    [buttons] = alert.reply_markup["inline_keyboard"]  # type: ignore[index]
    assert [button["text"] for button in buttons] == [
        "correct: 😄 positive",
        "correct: 😐 neutral",
        "correct: 😢 negative",
    ]

    fake.press_button(OPERATOR, OPERATOR, alert.message_id, buttons[1]["callback_data"])
    edited = await fake.wait_for(
        lambda: (m := fake.message(OPERATOR, alert.message_id)).edits and m, ANSWER_TIMEOUT
    )
    assert edited.text.startswith(alert.text + "\n\n✍️ Corrected to 😐 neutral by Olga")
    assert edited.reply_markup == alert.reply_markup, "the buttons stay for a second thought"
    [answer] = fake.callback_answers
    assert answer.text == "Saved: neutral"

    [entry] = await MoodLog(bot.database).entries(MoodFilter(label="neutral"))
    assert (entry.model_label, entry.model_confidence) == ("negative", 0.97)
    assert entry.correction is not None
    assert (entry.correction.label, entry.correction.operator_id) == ("neutral", OPERATOR)
    [log_page] = await reply_to(fake, OPERATOR, "/moodlog")
    assert "😢 97% → ✍️ 😐 · sad: the refund never arrived" in log_page.text
    export = await export_customer(bot.database, CUSTOMER)
    assert export is not None
    [corrected] = [message for message in export.messages if message.corrections]
    assert [(c.label, c.operator_id) for c in corrected.corrections] == [("neutral", OPERATOR)]


async def test_a_streak_of_negative_messages_alerts_once(
    fake: FakeTelegram, database_url: str
) -> None:
    config = operator_config(fake, database_url, OperatorsConfig(chat_id=OPERATOR, alert_streak=3))
    async with running_bot(config):
        for n in range(1, 6):
            fake.send_text(CUSTOMER, CUSTOMER, f"meh {n}")
            await fake.wait_for_messages(CUSTOMER, n, timeout=ANSWER_TIMEOUT)
        [alert] = await fake.wait_for_messages(OPERATOR, 1, timeout=ANSWER_TIMEOUT)
        # Time for any further (wrong) alert to arrive.
        await asyncio.sleep(0.5)

    assert fake.messages(OTHER_OPERATOR) == []
    assert len(fake.messages(OPERATOR)) == 1
    lines = alert.text.splitlines()
    assert lines[0] == "⚠️ Mood alert: 3 negative messages in a row"
    assert "😢 60%: meh 3" in lines
    assert [line.rsplit(" · ", 1)[1] for line in lines[-2:]] == ["meh 1", "meh 2"]


async def test_only_operators_may_correct_a_mood(fake: FakeTelegram, database_url: str) -> None:
    group = -100_777
    fake.add_chat(group, "supergroup", title="Support team")
    config = operator_config(fake, database_url, OperatorsConfig(chat_id=group))
    async with running_bot(config) as service:
        fake.send_text(CUSTOMER, CUSTOMER, "sad, nothing works")
        [alert] = await fake.wait_for_messages(group, 1, timeout=ANSWER_TIMEOUT)
        [buttons] = alert.reply_markup["inline_keyboard"]  # type: ignore[index]
        fake.press_button(group, CUSTOMER, alert.message_id, buttons[0]["callback_data"])
        [refusal] = await fake.wait_for(lambda: fake.callback_answers, ANSWER_TIMEOUT)
        entries = await MoodLog(service.database).entries(MoodFilter())

    assert (refusal.text, refusal.show_alert) == (REFUSAL["en"], True)
    assert fake.message(group, alert.message_id).edits == []
    assert [entry.correction for entry in entries] == [None]


async def test_the_daily_digest_is_scheduled_and_reports_yesterday(
    fake: FakeTelegram, database_url: str
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    settings = OperatorsConfig(chat_id=OPERATOR, digest_time=time(8, 30), timezone=shanghai.key)
    now = datetime(2024, 5, 8, 1, 0, tzinfo=shanghai)
    yesterday = datetime(2024, 5, 7, 12, 0, tzinfo=shanghai)
    async with running_bot(operator_config(fake, database_url, settings)) as service:
        [job] = service.app.job_queue.get_jobs_by_name(JOB_NAME)  # type: ignore[union-attr]
        next_run = job.next_t
        for n in range(3):
            await tagged(service.database, BO, f"bo {n}", "negative", 0.9, yesterday)
        await tagged(service.database, ANN, "ann", "negative", 0.9, yesterday)
        await tagged(service.database, ANN, "ann glad", "positive", 0.9, yesterday)
        await tagged(
            service.database, ANN, "earlier", "neutral", 0.6, yesterday - timedelta(days=2)
        )
        await tagged(service.database, ANN, "today", "negative", 0.9, now)

        await service.operators.digest.send(service.app.bot, now)
        text, chart = await fake.wait_for_messages(OPERATOR, 2, timeout=ANSWER_TIMEOUT)

    assert job.name == "mood digest"
    assert next_run is not None
    local = next_run.astimezone(shanghai)
    assert (local.hour, local.minute) == (8, 30)
    assert text.text.splitlines() == [
        "📊 Mood digest for Tue 2024-05-07 (Asia/Shanghai)",
        "5 messages: 😄 1 · 😐 0 · 😢 4 · 80% negative",
        "",
        "Customers with the most negative messages:",
        f"1. 波 ({BO.id}): 3",
        f"2. Ann (@ann_k, {CUSTOMER}): 1",
        "",
        "Satisfaction: no conversation ended in this period.",
        "Answers: none in this period.",
    ]
    assert chart.kind == "photo"
    assert chart.text.splitlines() == [
        "Moods 2024-05-01 – 2024-05-07 (Asia/Shanghai)",
        "6 messages: 😄 1 · 😐 1 · 😢 4 · 67% negative",
    ]


async def test_a_quiet_day_and_no_digest_time(fake: FakeTelegram, database_url: str) -> None:
    settings = OperatorsConfig(chat_id=OPERATOR, digest_time=None)
    async with running_bot(operator_config(fake, database_url, settings)) as service:
        assert service.app.job_queue.get_jobs_by_name(JOB_NAME) == ()  # type: ignore[union-attr]
        await service.operators.digest.send(service.app.bot, NOW)
        [text] = await fake.wait_for_messages(OPERATOR, 1, timeout=ANSWER_TIMEOUT)

    assert text.text.splitlines()[1] == "No tagged messages yesterday."
    assert fake.photos == []
