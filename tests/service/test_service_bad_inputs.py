"""The bad-input corpus (tests/data/bad_inputs.jsonl) through the running bot: every item gets
the outcome the file documents for it, and none crashes the bot or shows a customer an error.

Each item has a chat of its own; after it the customer writes "ping" in that chat, so that once
the ping is answered the item was handled (each chat's updates are handled in order).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.fake_telegram import FakeTelegram
from bot.texts import text
from engine.mood_engine import MoodEngine
from engine.reply_prompt import build_reply_prompt
from engine.reply_text import LABEL_WORDS
from engine.types import Mood, Turn
from engine.vocabulary import MOOD_EMOJI
from tests.service.support import (
    bot_config,
    every_update_handled,
    questions_and_answers,
    running,
    sqlite_url,
    stored,
    wait_until,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "bad_inputs.jsonl"
ITEMS: list[dict[str, Any]] = [
    json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()
]
MENTION = "@moodbot_test_bot"
PING = "ping"
FIRST_USER = 6000


def _content(item: dict[str, Any]) -> dict[str, Any]:
    content = dict(item["input"])
    if "repeat" in item:
        content["text"] *= item["repeat"]
    return content


def _expected_stored(item: dict[str, Any]) -> str | None:
    if item.get("stored_repeat"):
        return str(_content(item)["text"])
    return item.get("stored")


class Corpus:
    """Sends each item in a chat of its own and remembers where it went."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chats: dict[str, int] = {}
        self.pinged: set[int] = set()
        self.callbacks: dict[str, str] = {}

    def send(self, index: int, item: dict[str, Any]) -> None:
        fake, kind = self.fake, item.get("kind", "private")
        user = FIRST_USER + index
        group = -user
        content = _content(item)
        if kind == "private":
            fake.send_message(user, user, content)
            self._ping(item, user, user)
        elif kind == "group":
            fake.send_message(group, user, content)
            self._ping(item, group, user)
        elif kind == "edited":
            message_id = fake.send_message(user, user, content)
            fake.send_edit(user, message_id, item["edit"])
            self._ping(item, user, user)
        elif kind == "channel_post":
            self.chats[item["id"]] = group
            fake.channel_post(group, content["text"])
        elif kind == "from_bot":
            robot = {"id": user, "is_bot": True, "first_name": "Robot", "username": "robot_bot"}
            fake.send_message(user, user, {**content, "from": robot})
            self._ping(item, user, user)
        elif kind == "sender_chat":
            chat = fake.add_chat(group, "supergroup")
            fake.send_message(group, user, {**content, "sender_chat": chat})
            self._ping(item, group, user)
        elif kind == "no_sender":
            chat = fake.add_chat(group, "supergroup")
            fake.inject_update(
                {"message": {"message_id": 1, "chat": chat, "date": int(time.time()), **content}}
            )
            self._ping(item, group, user)
        elif kind == "reaction":
            sender = fake.add_user(user)
            reaction = {
                "chat": {"id": user, "type": "private", "first_name": sender["first_name"]},
                "message_id": 1,
                "user": sender,
                "date": int(time.time()),
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", **content}],
            }
            fake.inject_update({"message_reaction": reaction})
            self._ping(item, user, user)
        elif kind == "callback":
            query_id = f"query-{item['id']}"
            self.callbacks[item["id"]] = query_id
            sender = fake.add_user(user)
            fake.inject_update(
                {
                    "callback_query": {
                        "id": query_id,
                        "from": sender,
                        "chat_instance": str(user),
                        **content,
                    }
                }
            )
            self.chats[item["id"]] = user
        else:
            raise AssertionError(f"{item['id']}: unknown kind {kind!r}")

    def _ping(self, item: dict[str, Any], chat_id: int, user: int) -> None:
        self.chats[item["id"]] = chat_id
        self.pinged.add(chat_id)
        fake = self.fake
        if chat_id > 0:
            fake.send_text(chat_id, user, PING)
        else:
            body, entities = fake.mention_bot(PING)
            fake.send_text(chat_id, user, body, entities=entities)


def _outcome_problems(
    item: dict[str, Any], corpus: Corpus, fake: FakeTelegram, db_path: Path
) -> list[str]:
    chat_id = corpus.chats[item["id"]]
    pairs = [
        (question, answers)
        for question, answers in questions_and_answers(stored(db_path, chat_id))
        if question.text != PING
    ]
    ping_answers = {
        answer.telegram_message_id
        for question, answers in questions_and_answers(stored(db_path, chat_id))
        if question.text == PING
        for answer in answers
    }
    shown = [m for m in fake.messages(chat_id) if m.message_id not in ping_answers]
    expect: str = item["expect"]
    problems = []
    if expect == "answered":
        if len(pairs) != 1 or len(pairs[0][1]) != 1 or pairs[0][0].status != "answered":
            return [f"stored {[(q.text[:40], q.status, len(a)) for q, a in pairs]}"]
        question, [answer] = pairs[0]
        expected = _expected_stored(item)
        if expected is not None and question.text != expected:
            problems.append(f"stored {question.text[:60]!r}, expected {expected[:60]!r}")
        if [m.text for m in shown] != [answer.text]:
            problems.append(f"the chat shows {[m.text[:60] for m in shown]}")
        if any(m.parse_mode is not None for m in shown):
            problems.append("the answer was sent with a parse_mode")
        emoji = next((e for e in MOOD_EMOJI.values() if answer.text.startswith(e + " ")), None)
        if emoji is None:
            problems.append(f"the answer does not open with a mood emoji: {answer.text[:60]!r}")
        elif any(word in answer.text.lower() for word in LABEL_WORDS):
            problems.append(f"a label word reached the customer: {answer.text!r}")
    elif expect.startswith("note:"):
        note = text(expect.removeprefix("note:"), "en")
        if pairs:
            problems.append(f"stored {[q.text[:40] for q, _ in pairs]}")
        if [m.text for m in shown] != [note]:
            problems.append(f"the chat shows {[m.text[:60] for m in shown]}, not the note")
    elif expect == "ignored":
        if pairs:
            problems.append(f"stored {[q.text[:40] for q, _ in pairs]}")
        if shown:
            problems.append(f"the chat shows {[m.text[:60] for m in shown]}")
    else:
        problems.append(f"unknown expectation {expect!r}")
    return problems


async def test_every_bad_input_gets_its_documented_outcome(
    fake: FakeTelegram, db_path: Path, tiny_engine: MoodEngine
) -> None:
    corpus = Corpus(fake)
    victims = {
        item["id"]: int(item["input"]["data"].split(":")[2])
        for item in ITEMS
        if item.get("kind") == "callback" and item["input"]["data"].count(":") == 2
    }
    async with running(bot_config(fake, sqlite_url(db_path)), tiny_engine) as service:
        # Whose data a forged button names: a customer with something to lose.
        for victim in victims.values():
            fake.send_text(victim, victim, "please keep my data")
        for victim in victims.values():
            await fake.wait_for_messages(victim, 1)

        for index, item in enumerate(ITEMS):
            corpus.send(index, item)

        def pings_answered() -> bool:
            return all(
                any(
                    q.text == PING and q.status == "answered"
                    for q, _ in questions_and_answers(stored(db_path, chat_id))
                )
                for chat_id in corpus.pinged
            )

        await fake.wait_for(pings_answered, 120.0, description="every ping answered")

        def acknowledged() -> set[object]:
            calls = fake.calls_to("answerCallbackQuery")
            return {call.params.get("callback_query_id") for call in calls}

        await fake.wait_for(
            lambda: acknowledged() >= set(corpus.callbacks.values()),
            description="every button acknowledged",
        )
        # The channel post has no ping: it is done with once the bot has handled every update.
        await wait_until(lambda: every_update_handled(fake, service), what="every update handled")
        assert service.healthy()

    problems = {
        item["id"]: found
        for item in ITEMS
        if (found := _outcome_problems(item, corpus, fake, db_path))
    }
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)
    for victim in victims.values():
        assert [row.text for row in stored(db_path, victim) if row.role == "user"] == [
            "please keep my data"
        ]
    # Nobody was shown an error or a traceback.
    failure = text("failed", "en")
    for chat_id in {*corpus.chats.values(), *victims.values()}:
        for message in fake.messages(chat_id):
            assert message.text != failure and "Traceback" not in message.text


async def test_control_tokens_in_a_message_stay_text_in_both_prompts(
    tiny_engine: MoodEngine,
) -> None:
    [injection] = [item for item in ITEMS if item["id"] == "chat_template_injection"]
    message = injection["input"]["text"]
    tokenizer = tiny_engine.backend.tokenizer
    specials = set(tokenizer.added_tokens_encoder.values())
    history = [Turn("user", message), Turn("assistant", "Sorry to hear that.")]

    ids = build_reply_prompt(tokenizer, history, message, Mood("neutral", 0.9), 512).ids
    opened = [tokenizer.convert_ids_to_tokens(i) for i in ids if i in specials]
    # system, the earlier two turns, this message, its mood cue, the assistant's turn to come.
    assert opened.count("<|im_start|>") == 6
    assert opened.count("<|im_end|>") == 5

    text_ids = tiny_engine.backend.classifier._text_ids(message)
    assert not specials & set(text_ids)
