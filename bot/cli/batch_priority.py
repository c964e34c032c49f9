"""Batch commands (`analyze`, `eval`, `eval-knowledge`, `calibrate`) leave the CPU to the bot.

On a small server the bot and a batch job share a few cores; at equal priority each runs at
about half speed, so every customer would wait twice as long for a mood and a reply. A batch
command therefore runs under Linux's SCHED_IDLE policy (or, where that is refused, at the
lowest nice level): it gets the cores only while the bot does not want them, and as fast as
ever on a quiet machine. The policy is set before the model loads, so the compute threads
torch starts later inherit it. `--priority normal` keeps the usual priority.
"""

from __future__ import annotations

import argparse
import logging
import os

log = logging.getLogger(__name__)

BATCH_COMMANDS = ("analyze", "eval", "eval-knowledge", "calibrate")
LOWEST_NICE = 19


def add_priority_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--priority",
        choices=("idle", "normal"),
        default="idle",
        help="idle (default): use the CPU only while a bot on this machine does not; "
        "normal: compete with it at equal priority",
    )


def yield_to_the_bot() -> str:
    """Lower this process's CPU priority for good; what it became, in a few words."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as exc:
        log.info("SCHED_IDLE refused (%s); lowering the nice level instead", exc)
    else:
        return "SCHED_IDLE"
    try:
        os.nice(LOWEST_NICE - os.nice(0))
    except (AttributeError, OSError) as exc:
        log.warning("could not lower the batch job's priority: %s", exc)
        return "unchanged"
    return f"nice {os.nice(0)}"
