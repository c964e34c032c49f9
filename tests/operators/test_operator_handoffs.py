"""Hand-offs and the facts reload through the fake Telegram server."""

from __future__ import annotations

from pathlib import Path

from bench.fake_telegram import FakeTelegram
from bot.config import OperatorsConfig
from bot.operators.access import REFUSAL
from bot.service import BotService
from engine.config import KnowledgeConfig
from engine.knowledge.base import KnowledgeBase
from storage.mood_log import MoodFilter, MoodLog
from tests.operators.bot_support import (
    ANSWER_TIMEOUT,
    CUSTOMER,
    HANDOFF_REPLY,
    OPERATOR,
    FirstWordEngine,
    operator_config,
    running_bot,
)
from tests.operators.test_operator_telegram import reply_to


async def test_a_handed_off_message_is_flagged_shown_and_sent_to_the_operators(
    fake: FakeTelegram, database_url: str
) -> None:
    config = operator_config(fake, database_url, OperatorsConfig(chat_id=OPERATOR))
    async with running_bot(config) as service:
        fake.send_text(CUSTOMER, CUSTOMER, "hello there")
        await fake.wait_for_messages(CUSTOMER, 1, timeout=ANSWER_TIMEOUT)
        fake.send_text(CUSTOMER, CUSTOMER, "price of the AC-12?")
        [_, answer] = await fake.wait_for_messages(CUSTOMER, 2, timeout=ANSWER_TIMEOUT)
        [notice] = await fake.wait_for_messages(OPERATOR, 1, timeout=ANSWER_TIMEOUT)
        [log_page] = await reply_to(fake, OPERATOR, "/moodlog")
        newest, oldest = await MoodLog(service.database).entries(MoodFilter())

    assert answer.text.endswith(HANDOFF_REPLY)
    lines = notice.text.splitlines()
    assert lines[0] == "🙋 Needs a human: the facts do not answer it"
    assert lines[1] == f"Customer: Ann (@ann_k, {CUSTOMER}) · chat {CUSTOMER}"
    assert "Question: price of the AC-12?" in lines
    assert lines[-1].endswith("hello there")
    assert (newest.needs_human, newest.handoff_reason) == (True, "the facts do not answer it")
    assert not oldest.needs_human
    flagged = [line for line in log_page.text.splitlines() if "🙋" in line and "·" in line]
    assert len(flagged) == 1 and flagged[0].endswith("price of the AC-12?")


async def test_operators_reload_the_facts_and_a_broken_file_is_refused(
    fake: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    facts = tmp_path / "facts.md"
    facts.write_text("## Hours\nWe open at 9:00.\n", encoding="utf-8")
    knowledge = KnowledgeBase(KnowledgeConfig(facts))
    config = operator_config(fake, database_url)
    async with running_bot(config, FirstWordEngine(knowledge)):
        facts.write_text("## Hours\nWe open at 10:00.\n\n## Returns\n7 days.\n", encoding="utf-8")
        [reloaded] = await reply_to(fake, OPERATOR, "/reloadfacts")
        facts.write_text("", encoding="utf-8")
        [refused] = await reply_to(fake, OPERATOR, "/reloadfacts")
        [customer] = await reply_to(fake, CUSTOMER, "/reloadfacts")

    assert reloaded.text.startswith(f"Facts reloaded from {facts}: 2 sections,")
    assert refused.text.startswith("Facts not reloaded; the previous ones stay in use.")
    assert "knowledge.file" in refused.text
    assert "We open at 10:00." in knowledge.current.facts.text
    assert customer.text == REFUSAL["en"]


async def test_without_facts_reload_says_so(fake: FakeTelegram, bot: BotService) -> None:
    [answer] = await reply_to(fake, OPERATOR, "/reloadfacts")
    assert answer.text == "No facts file is configured ([knowledge] file)."
