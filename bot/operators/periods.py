"""Report periods as operators write them ("24h", "7d", "30d"), and local calendar days."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

T = TypeVar("T")

_PERIOD = re.compile(r"([1-9][0-9]{0,3})([hd])")
MAX_PERIOD = timedelta(days=3660)


def parse_period(text: str) -> timedelta:
    """ "24h" or "7d" as a duration; ValueError for anything else."""
    match = _PERIOD.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"period {text!r} is not a number of hours or days such as 24h or 7d")
    amount = int(match[1])
    period = timedelta(hours=amount) if match[2] == "h" else timedelta(days=amount)
    if period > MAX_PERIOD:
        raise ValueError(f"period {text!r} is longer than ten years")
    return period


def parse_days(text: str) -> int:
    """ "7d" as 7; ValueError for anything that is not whole days."""
    period = parse_period(text)
    if period % timedelta(days=1):
        raise ValueError(f"period {text!r} is not whole days; reports go by day, e.g. 7d or 30d")
    return period.days


def last_days(
    count: int, zone: ZoneInfo, now: datetime, *, include_today: bool
) -> tuple[date, date]:
    """The first and last of `count` consecutive local days ending today (or yesterday)."""
    last = now.astimezone(zone).date() - timedelta(days=0 if include_today else 1)
    return last - timedelta(days=count - 1), last


def one_period(arguments: Sequence[str], parse: Callable[[str], T], default: T) -> T:
    """A command's only, optional argument (a period) parsed, or `default` without one;
    ValueError for more than one or one that `parse` refuses."""
    if len(arguments) > 1:
        raise ValueError("Too many arguments.")
    return parse(arguments[0]) if arguments else default
