"""A stop never waits for a digest stuck on its way to Telegram."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from datetime import time as time_of_day
from typing import cast

from bench.fake_telegram import FakeTelegram
from bot.config import OperatorsConfig
from bot.operators.digest import JOB_NAME
from bot.service import STOP_GRACE, BotService
from engine.protocol import Engine
from tests.operators.bot_support import OPERATOR, FirstWordEngine, operator_config


async def test_a_digest_waiting_out_flood_control_does_not_hold_up_the_stop(
    fake: FakeTelegram, database_url: str
) -> None:
    settings = OperatorsConfig(chat_id=OPERATOR, digest_time=time_of_day(8, 30))
    service = BotService(
        operator_config(fake, database_url, settings), cast(Engine, FirstWordEngine())
    )
    await service.start()
    stopped = False
    try:
        # Telegram asks the digest to wait two minutes, far past any stop timeout.
        fake.fail_next("sendMessage", status=429, retry_after=120)
        assert service.app.job_queue is not None
        # The desk runs repeating jobs of its own beside the digest.
        [job] = service.app.job_queue.get_jobs_by_name(JOB_NAME)
        job.job.modify(next_run_time=datetime.now(UTC))
        await fake.wait_for(
            lambda: [call for call in fake.calls_to("sendMessage") if call.status == 429], 10
        )
        started = time.monotonic()
        await asyncio.wait_for(service.stop(), 3 * STOP_GRACE)
        stopped = True
        assert time.monotonic() - started < 2 * STOP_GRACE
    finally:
        if not stopped:
            await service.stop()
