"""The real packaged model behind the bot: a Chinese customer gets a Chinese answer."""

from __future__ import annotations

import pytest

from bench.fake_telegram import FakeTelegram
from engine.language import detect_language
from engine.mood_engine import MoodEngine
from engine.reply_text import FALLBACKS
from tests.e2e.support import answers_by_question, bot_config, running, wait_for_status

pytestmark = pytest.mark.real_model


async def test_chinese_customer_gets_a_chinese_answer_with_the_mood_emoji(
    fake: FakeTelegram, database_url: str, real_engine: MoodEngine
) -> None:
    customer = 901
    fake.add_user(customer, first_name="王芳", language_code="zh-hans")
    async with running(bot_config(fake, database_url), real_engine) as service:
        fake.send_text(customer, customer, "你们客服的态度真的让我很失望，心里特别难受。")
        chat_rows = await wait_for_status(service.database, customer, 1, timeout=180)

    [(question, answer)] = answers_by_question(chat_rows)
    assert question.mood_label == "negative"
    [final] = fake.messages(customer)
    assert final.text == answer.text
    reply = final.text.removeprefix("😢 ")
    assert reply != final.text, final.text
    assert detect_language(reply) == "zh", reply
    assert reply not in FALLBACKS["zh"].values(), "the model's own reply, not the fallback"
    assert fake.drafts(customer), "the answer should stream"
