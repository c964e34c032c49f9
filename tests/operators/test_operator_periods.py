from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.operators.periods import last_days, parse_days, parse_period


@pytest.mark.parametrize(
    ("text", "period"),
    [("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), (" 30D ", timedelta(days=30))],
)
def test_periods(text: str, period: timedelta) -> None:
    assert parse_period(text) == period


@pytest.mark.parametrize("text", ["", "7", "d", "0d", "-1d", "1w", "7 d", "99999d", "1.5d"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="period"):
        parse_period(text)


def test_reports_need_whole_days() -> None:
    assert parse_days("30d") == 30
    assert parse_days("48h") == 2
    with pytest.raises(ValueError, match="whole days"):
        parse_days("36h")


def test_last_days_are_local_calendar_days() -> None:
    # 20:00 UTC on 1 May is already 2 May in Shanghai.
    now = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
    shanghai = ZoneInfo("Asia/Shanghai")

    assert last_days(7, shanghai, now, include_today=True) == (date(2024, 4, 26), date(2024, 5, 2))
    assert last_days(1, shanghai, now, include_today=False) == (date(2024, 5, 1), date(2024, 5, 1))
    assert last_days(7, ZoneInfo("UTC"), now, include_today=True) == (
        date(2024, 4, 25),
        date(2024, 5, 1),
    )
