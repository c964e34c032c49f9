"""Batch commands leave the CPU to a bot on the same machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.cli.batch_priority import BATCH_COMMANDS
from bot.cli.main import _parser

PROBE = """
import os, threading
from bot.cli.batch_priority import yield_to_the_bot
said = yield_to_the_bot()
seen = []
# A thread started afterwards (as torch's compute threads are) inherits the policy.
worker = threading.Thread(target=lambda: seen.append(os.sched_getscheduler(0)))
worker.start(); worker.join()
print(said, os.sched_getscheduler(0) == os.SCHED_IDLE, seen[0] == os.SCHED_IDLE)
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_a_batch_process_and_its_later_threads_run_only_when_the_cpu_is_free() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["SCHED_IDLE", "True", "True"]


@pytest.mark.parametrize("command", BATCH_COMMANDS)
def test_every_batch_command_yields_unless_told_otherwise(command: str) -> None:
    arguments = {
        "analyze": ["reviews.csv"],
        "eval": ["labelled.jsonl"],
        "eval-knowledge": ["q.jsonl", "--knowledge", "facts.md"],
        "calibrate": [],
    }[command]
    assert _parser().parse_args([command, *arguments]).priority == "idle"
    normal = _parser().parse_args([command, *arguments, "--priority", "normal"])
    assert normal.priority == "normal"
