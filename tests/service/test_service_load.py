"""Fifty customers at once through the real bot: every message answered exactly once, in each
chat's order, from that customer's own history. Correctness only: timings belong to
bench/load.py, which runs the full 50 × 20 against a baseline."""

from __future__ import annotations

from pathlib import Path

from bench.load import run_load
from engine.mood_engine import MoodEngine


async def test_fifty_customers_writing_at_once_are_each_answered_once_in_order(
    tiny_engine: MoodEngine, tmp_path: Path
) -> None:
    # Each customer sends all their messages before the first answer: the hardest case for
    # per-chat order, and a burst of 300 updates for the bot, the model and the database.
    result = await run_load(
        tiny_engine, customers=50, messages=6, pace="burst", workdir=tmp_path, timeout=120.0
    )
    assert result.problems == []
    assert len(result.latencies) == 50 * 6
