"""The fake Telegram server, driven by python-telegram-bot's real Bot and Application."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bench.fake_telegram import FakeTelegram, utf16_len
from bench.fake_telegram._text import parse_html

CUSTOMER = 1001
GROUP = -100500


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as client:
        yield client


async def test_get_me_describes_the_bot(bot: Bot) -> None:
    me = await bot.get_me()

    assert me.is_bot
    assert me.username == "moodbot_test_bot"
    assert me.first_name == "MoodBot"
    assert me.can_join_groups


async def test_sent_message_is_recorded_as_the_chat_shows_it(fake: FakeTelegram, bot: Bot) -> None:
    asked = fake.send_text(CUSTOMER, CUSTOMER, "hi")

    sent = await bot.send_message(
        CUSTOMER, "  <b>Hello</b> &lt;friend&gt; 😀\n", parse_mode="HTML", reply_to_message_id=asked
    )

    [recorded] = fake.messages(CUSTOMER)
    assert sent.message_id == recorded.message_id == asked + 1
    assert recorded.text == sent.text == "Hello <friend> 😀"
    assert recorded.source == "  <b>Hello</b> &lt;friend&gt; 😀\n"
    assert recorded.entities == [{"type": "bold", "offset": 0, "length": 5}]
    assert recorded.reply_to_message_id == asked
    assert sent.reply_to_message is not None and sent.reply_to_message.text == "hi"


async def test_text_limit_counts_utf16_code_units(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)
    fits = "😀" * 2048
    assert utf16_len(fits) == 4096

    await bot.send_message(CUSTOMER, fits)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(CUSTOMER, fits + "a")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CUSTOMER, " \n ")


async def test_edits_follow_telegrams_rules(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
    sent = await bot.send_message(CUSTOMER, "draft", reply_markup=keyboard)

    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("draft", CUSTOMER, sent.message_id, reply_markup=keyboard)
    # Dropping the keyboard is a change, even with the same text.
    await bot.edit_message_text("draft", CUSTOMER, sent.message_id)
    await bot.edit_message_text("final", CUSTOMER, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", CUSTOMER, sent.message_id + 1)
    with pytest.raises(BadRequest, match="Message_too_long"):
        await bot.edit_message_text("a" * 4097, CUSTOMER, sent.message_id)

    recorded = fake.message(CUSTOMER, sent.message_id)
    assert [revision.text for revision in recorded.history] == ["draft", "draft", "final"]
    assert recorded.history[0].reply_markup is not None
    assert recorded.reply_markup is None


async def test_malformed_html_is_rejected(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)

    with pytest.raises(BadRequest, match="Can't parse entities: can't find end tag"):
        await bot.send_message(CUSTOMER, "<b>bold", parse_mode="HTML")
    with pytest.raises(BadRequest, match='unsupported start tag "script"'):
        await bot.send_message(CUSTOMER, "<script>x</script>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="renders only parse_mode html"):
        await bot.send_message(CUSTOMER, "*bold*", parse_mode="MarkdownV2")
    assert fake.messages(CUSTOMER) == []


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
def test_html_errors_match_telegrams_wording(source: str, error: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_html(source)
    assert str(raised.value) == error


def test_html_renders_entities_in_utf16_offsets() -> None:
    text, entities = parse_html(
        '😀<i>a</i> &amp; <a href="https://x.org/?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">x = 1</code></pre>'
    )

    assert text == "😀a & link x = 1"
    assert entities == [
        {"type": "italic", "offset": 2, "length": 1},
        {"type": "text_link", "offset": 6, "length": 4, "url": "https://x.org/?a=1&b=2"},
        {"type": "pre", "offset": 11, "length": 5, "language": "python"},
    ]


# PTB warns whenever RetryAfter reads its retry_after as an int, its constructor included.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_armed_429_raises_retry_after_once(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)
    fake.fail_next("sendMessage", status=429, retry_after=7)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(CUSTOMER, "hi")
    await bot.send_message(CUSTOMER, "hi")

    retry_after = raised.value.retry_after
    seconds = retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else retry_after
    assert seconds == 7
    assert [call.status for call in fake.calls_to("sendMessage")] == [429, 200]
    assert len(fake.messages(CUSTOMER)) == 1


async def test_outage_answers_bad_gateway_until_it_ends(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)
    fake.outage(60)

    with pytest.raises(NetworkError, match="Bad Gateway") as raised:
        await bot.send_message(CUSTOMER, "hi")
    assert type(raised.value) is NetworkError

    fake.outage(0)
    await bot.send_message(CUSTOMER, "hi")
    assert len(fake.messages(CUSTOMER)) == 1


async def test_server_errors_and_blocked_users(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)
    fake.fail_next("sendChatAction", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_chat_action(CUSTOMER, "typing")

    fake.block_bot(CUSTOMER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CUSTOMER, "hi")


async def test_timeout_fault_times_out_but_telegram_still_acts(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.add_user(CUSTOMER)
    fake.fail_next("sendMessage", status="timeout", delay=0.4)

    with pytest.raises(TimedOut):
        await bot.send_message(CUSTOMER, "late", read_timeout=0.1)

    [message] = await fake.wait_for_messages(CUSTOMER, 1, timeout=2)
    assert message.text == "late"


async def test_get_updates_long_polls_and_confirms_by_offset(fake: FakeTelegram, bot: Bot) -> None:
    first = fake.send_text(CUSTOMER, CUSTOMER, "one")
    fake.send_text(CUSTOMER, CUSTOMER, "two")

    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["one", "two"]
    assert updates[0].message is not None and updates[0].message.message_id == first

    # The same updates come back until an offset confirms them.
    assert len(await bot.get_updates(timeout=0)) == 2
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert fake.pending_updates() == []

    fake.long_poll_cap = 5
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=updates[-1].update_id + 1, timeout=5))
    await asyncio.sleep(0.1)
    fake.send_text(CUSTOMER, CUSTOMER, "three")
    [woken] = await poll
    assert woken.message is not None and woken.message.text == "three"
    assert time.monotonic() - started < 2


async def test_allowed_updates_filter_and_conflict(fake: FakeTelegram, bot: Bot) -> None:
    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    fake.send_text(CUSTOMER, CUSTOMER, "not wanted")
    assert fake.pending_updates() == []

    # A second bot instance polling with the same token ends the first one's long poll.
    fake.long_poll_cap = 5
    async with Bot(fake.token, base_url=fake.base_url) as second_instance:
        older = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.1)
        newer = asyncio.create_task(second_instance.get_updates(timeout=0))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await older
        assert await newer == ()


async def test_drafts_are_private_chat_only(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)
    fake.send_text(GROUP, CUSTOMER, "hello all")

    assert await bot.send_message_draft(CUSTOMER, draft_id=7, text="Thinking")
    assert await bot.send_message_draft(
        CUSTOMER, draft_id=7, text="Thinking <b>hard</b>", parse_mode="HTML"
    )
    with pytest.raises(BadRequest, match="Textdraft_peer_invalid"):
        await bot.send_message_draft(GROUP, draft_id=7, text="no")

    drafts = fake.drafts(CUSTOMER)
    assert [(d.draft_id, d.text) for d in drafts] == [(7, "Thinking"), (7, "Thinking hard")]
    assert fake.messages(CUSTOMER) == []


async def test_uploads_are_recorded(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)

    sent = await bot.send_document(
        CUSTOMER,
        b"mood,count\npositive,3\n",
        filename="moods.csv",
        caption="<i>report</i>",
        parse_mode="HTML",
    )
    photo = await bot.send_photo(CUSTOMER, b"\x89PNG\r\n\x1a\nfake", caption="chart")
    again = await bot.send_photo(CUSTOMER, photo.photo[-1].file_id)
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(CUSTOMER, "no-such-file-id")

    [document] = fake.documents
    assert document.data == b"mood,count\npositive,3\n"
    assert (document.filename, document.caption) == ("moods.csv", "report")
    assert sent.document is not None and sent.document.file_name == "moods.csv"
    first, second = fake.photos
    assert first.data == b"\x89PNG\r\n\x1a\nfake" and first.caption == "chart"
    assert second.data is None and second.file_ref == first.file_id == again.photo[-1].file_id
    assert [m.kind for m in fake.messages(CUSTOMER)] == ["document", "photo", "photo"]


async def test_commands_are_kept_per_scope_and_language(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Start"), ("mood", "Your mood")])
    await bot.set_my_commands([("start", "开始")], language_code="zh")
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Bad-Name", "x")])

    assert fake.commands[("default", "")] == [
        {"command": "start", "description": "Start"},
        {"command": "mood", "description": "Your mood"},
    ]
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["start"]
    await bot.delete_my_commands(language_code="zh")
    assert list(fake.commands) == [("default", "")]


async def test_buttons_become_callback_queries(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(CUSTOMER)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("👍", callback_data="good")]])
    sent = await bot.send_message(CUSTOMER, "Helpful?", reply_markup=keyboard)

    query_id = fake.press_button(CUSTOMER, CUSTOMER, sent.message_id, "good")
    [update] = await bot.get_updates(timeout=0)
    assert update.callback_query is not None and update.callback_query.data == "good"
    assert update.callback_query.id == query_id

    await bot.answer_callback_query(query_id, text="Thanks!")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)
    assert [answer.text for answer in fake.callback_answers] == ["Thanks!"]


async def test_customer_side_helpers_build_updates_ptb_understands(
    fake: FakeTelegram, bot: Bot
) -> None:
    said = fake.send_text(CUSTOMER, CUSTOMER, "helo", first_name="Ann", language_code="zh")
    fake.send_photo(CUSTOMER, CUSTOMER, caption="my order")
    fake.send_sticker(CUSTOMER, CUSTOMER, emoji="😡")
    fake.send_voice(CUSTOMER, CUSTOMER)
    fake.send_location(CUSTOMER, CUSTOMER, 31.23, 121.47)
    fake.send_edit(CUSTOMER, said, "hello")
    fake.channel_post(-1001234, "news")
    # Reactions are opt-in on Telegram: without allowed_updates naming them, they never arrive.
    fake.inject_update({"message_reaction": {"chat": {"id": CUSTOMER}, "message_id": said}})

    updates = await bot.get_updates(timeout=0)

    messages = [u.message for u in updates if u.message is not None]
    assert messages[0].from_user is not None and messages[0].from_user.language_code == "zh"
    assert messages[1].photo and messages[1].caption == "my order"
    assert messages[2].sticker is not None and messages[2].sticker.emoji == "😡"
    assert messages[3].voice is not None
    assert messages[4].location is not None and messages[4].location.latitude == 31.23
    edited = [u.edited_message for u in updates if u.edited_message is not None]
    assert [(m.message_id, m.text) for m in edited] == [(said, "hello")]
    posts = [u.channel_post for u in updates if u.channel_post is not None]
    assert [p.text for p in posts] == ["news"]
    assert [m.message_id for m in messages] == [1, 2, 3, 4, 5]
    assert len(updates) == 7


async def test_unknown_method_and_wrong_token(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")
    with pytest.raises(InvalidToken):
        async with Bot("42:wrong-token", base_url=fake.base_url):
            pass


async def test_privacy_mode_hides_unaddressed_group_chatter() -> None:
    async with FakeTelegram(privacy_mode=True) as fake:
        fake.send_text(GROUP, CUSTOMER, "just chatting")
        text, entities = fake.mention_bot("how are you?")
        fake.send_text(GROUP, CUSTOMER, text, entities=entities)
        fake.send_text(GROUP, CUSTOMER, "/start@moodbot_test_bot")
        fake.send_text(GROUP, CUSTOMER, "/start@other_bot")

        delivered = [u["message"]["text"] for u in fake.pending_updates()]
        assert delivered == ["@moodbot_test_bot how are you?", "/start@moodbot_test_bot"]


async def test_application_answers_through_long_polling(fake: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("welcome")

    app = Application.builder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        fake.send_text(CUSTOMER, CUSTOMER, "/start")
        fake.send_text(CUSTOMER, CUSTOMER, "hello 😀")
        welcome, echoed = await fake.wait_for_messages(CUSTOMER, 2)
        await app.updater.stop()
        await app.stop()

    assert welcome.text == "welcome"
    assert echoed.text == "echo: hello 😀"
    assert fake.pending_updates() == []


def test_threaded_server_serves_a_sync_test() -> None:
    with FakeTelegram(long_poll_cap=5) as fake:
        fake.add_user(CUSTOMER)

        def call(method: str, **params: object) -> dict[str, object]:
            request = urllib.request.Request(
                f"{fake.base_url}{fake.token}/{method}",
                data=json.dumps(params).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                answer: dict[str, object] = json.load(response)
                return answer

        polled: list[dict[str, object]] = []
        poller = threading.Thread(target=lambda: polled.append(call("getUpdates", timeout=5)))
        started = time.monotonic()
        poller.start()
        time.sleep(0.1)
        fake.send_text(CUSTOMER, CUSTOMER, "from the main thread")
        poller.join(5)
        assert time.monotonic() - started < 2
        [answer] = polled
        assert answer["ok"] is True and isinstance(answer["result"], list)
        assert answer["result"][0]["message"]["text"] == "from the main thread"

        async def reply() -> None:
            async with Bot(fake.token, base_url=fake.base_url) as client:
                await client.send_message(CUSTOMER, "answered")

        asyncio.run(reply())
        [message] = fake.wait_for_messages_sync(CUSTOMER, 1)
        assert message.text == "answered"
        with pytest.raises(AssertionError, match="2 bot messages in chat 1001"):
            fake.wait_for_messages_sync(CUSTOMER, 2, timeout=0.05)


def test_module_entry_point_serves_and_prints_its_url() -> None:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "bench.fake_telegram", "--user", str(CUSTOMER)]
    with subprocess.Popen(
        command, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None and process.stdin is not None
            banner = json.loads(process.stdout.readline())
            api = f"{banner['base_url']}{banner['token']}"
            with urllib.request.urlopen(f"{api}/getMe") as response:
                assert json.load(response)["result"]["username"] == "moodbot_test_bot"
            process.stdin.write("hello from the terminal\n")
            process.stdin.flush()
            with urllib.request.urlopen(f"{api}/getUpdates?timeout=2") as response:
                [update] = json.load(response)["result"]
            assert update["message"]["text"] == "hello from the terminal"
        finally:
            process.terminate()
