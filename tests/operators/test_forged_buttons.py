"""Button data is whatever a client sends: a press with malformed or forged data gets a
refusal and changes nothing; it never raises out of a handler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bench.fake_telegram import FakeTelegram
from storage.models import AnswerFlag, Customer, DeskFact, IntentCorrection, Rating, Takeover
from tests.e2e.support import rows
from tests.operators.bot_support import ANSWER_TIMEOUT, CUSTOMER, OPERATOR
from tests.operators.desk_support import (
    FORUM,
    ManualClock,
    converse,
    desk_bot,
    desk_config,
    desk_telegram,
    topic_posts,
)

BO = 100_002
HUGE = "9" * 25
ARABIC_ONE = "\u0661"  # "١": str.isdigit() says yes, int() reads 1

# Pressed by the customer under the bot's answer to them.
CUSTOMER_PRESSES = [
    "forget",
    "forget:yes",
    "forget:yes:abc",
    "forget:maybe:{customer}",
    f"forget:yes:{BO}",
    "forget:yes:{customer}:1",
    "rate",
    "rate:1",
    "rate:1:",
    "rate:1:123",
    "rate:1:6",
    "rate:1:0",
    "rate:x:3",
    f"rate:{HUGE}:3",
    "rate:-1:3",
    "rate:1:3:4",
    f"rate:{ARABIC_ONE}:3",
    "",
    ":",
    "::::::::",
]
# Pressed by an operator under a post in the customer's topic; old and new prefixes alike.
OPERATOR_PRESSES = [
    *(
        data.format(prefix=prefix)
        for prefix in ("dhb", "dcl", "hand-back", "close")
        for data in (
            "{prefix}",
            "{prefix}:1",
            "{prefix}:a:b",
            "{prefix}:1:2:3",
            f"{{prefix}}:{HUGE}:1",
            f"{{prefix}}:1:{HUGE}",
            "{prefix}:1:2",
        )
    ),
    *(
        data.format(prefix=prefix)
        for prefix in ("dap", "approval")
        for data in (
            "{prefix}",
            "{prefix}:s",
            "{prefix}:x:1",
            "{prefix}:s:abc",
            f"{{prefix}}:s:{HUGE}",
            f"{{prefix}}:s:{ARABIC_ONE}",
            "{prefix}:s:1:2",
        )
    ),
    *(
        data.format(prefix=prefix)
        for prefix in ("mfix", "correct-mood")
        for data in (
            "{prefix}",
            "{prefix}:1",
            "{prefix}:abc:negative",
            "{prefix}:1:angry",
            f"{{prefix}}:{HUGE}:negative",
            "{prefix}:1:negative:1",
        )
    ),
    # Intent buttons: malformed, an intent not configured, and well-formed under no such button.
    "fix-intent",
    "fix-intent:1",
    "fix-intent:abc:returns",
    "fix-intent:1:refund_now",
    f"fix-intent:{HUGE}:returns",
    f"fix-intent:{ARABIC_ONE}:returns",
    "fix-intent:1:returns:1",
    "fix-intent:1:returns",
    "mlog",
    "mlog:0",
    "mlog:x:-:-:-:0",
    "mlog:0:angry:-:-:0",
    f"mlog:0:-:{HUGE}:-:0",
    "mlog:-1:-:-:-:0",
    f"mlog:0:-:-:{HUGE}:0",
    "mlog:0:-:-:-:0:0",
    # The desk and the facts: malformed, and well-formed but under no such button.
    "wrong-answer",
    "wrong-answer:abc",
    "wrong-answer:0",
    f"wrong-answer:{HUGE}",
    "wrong-answer:1",
    "save-fact",
    "save-fact:1",
    "save-fact:1:x",
    f"save-fact:1:{HUGE}",
    "save-fact:1:2",
    "remove-fact",
    "remove-fact:-1",
    f"remove-fact:{ARABIC_ONE}",
    "remove-fact:1",
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with desk_telegram(Bo=BO) as server:
        yield server


async def count(service: object, model: type) -> int:
    from bot.service import BotService

    assert isinstance(service, BotService)
    async with service.database.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_forged_button_data_gets_a_refusal_never_a_traceback(
    fake: FakeTelegram, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with desk_bot(desk_config(fake, database_url), ManualClock()) as service:
        await converse(fake, service, CUSTOMER, "sad my parcel is late")
        await converse(fake, service, BO, "hello")
        [answer] = fake.messages(CUSTOMER)
        post = (await topic_posts(fake, service, 2, fake.topics(FORUM)[0].message_thread_id))[0]
        before = (await rows(service.database, CUSTOMER), await rows(service.database, BO))
        shown = (answer.text, post.text)
        pressed = [
            fake.press_button(
                CUSTOMER,
                CUSTOMER,
                answer.message_id,
                data.format(customer=CUSTOMER),
                forged=True,
            )
            for data in CUSTOMER_PRESSES
        ] + [
            fake.press_button(FORUM, OPERATOR, post.message_id, data, forged=True)
            for data in OPERATOR_PRESSES
        ]
        answers = await fake.wait_for(
            lambda: (
                found
                if len(found := {a.callback_query_id: a for a in fake.callback_answers})
                >= len(pressed)
                else None
            ),
            ANSWER_TIMEOUT,
            description="an answer to every press",
        )
        after = (await rows(service.database, CUSTOMER), await rows(service.database, BO))
        customers = await count(service, Customer)
        rated = await count(service, Rating)
        taken = await count(service, Takeover)
        taught = await count(service, AnswerFlag) + await count(service, DeskFact)
        taught += await count(service, IntentCorrection)

    assert set(answers) == set(pressed)
    assert all(answers[query].text for query in pressed), "a press without a word back"
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [record.getMessage() for record in errors]
    assert after == before
    assert (answer.text, post.text) == shown, "a forged press edited a message"
    assert (customers, rated, taken, taught) == (2, 0, 0, 0)
