"""Moods per local day and the customers with the most negative messages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from storage import CustomerInfo, Database, Store
from storage.mood_stats import DayMoods, daily_moods, most_negative_customers
from tests.mood_log_seed import tagged

ANN = CustomerInfo(id=7_000_000_001, name="Ann", username="ann")
BO = CustomerInfo(id=7_000_000_002, name="波")
CY = CustomerInfo(id=7_000_000_003, name="Cy")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


async def test_days_are_local_and_every_day_is_present(db: Database) -> None:
    # 15:59 UTC is 23:59 in Shanghai (UTC+8), 16:00 UTC is already the next day there.
    await tagged(db, ANN, "a", "positive", 0.9, utc(1, 15, 59))
    await tagged(db, ANN, "b", "negative", 0.9, utc(1, 16, 0))
    await tagged(db, BO, "c", "negative", 0.9, utc(2, 3))
    await tagged(db, BO, "d", "neutral", 0.6, utc(4, 1))
    await tagged(db, BO, "outside", "neutral", 0.6, utc(5, 16))

    stats = await daily_moods(db, date(2024, 5, 1), date(2024, 5, 5), SHANGHAI)

    assert stats.time_zone == "Asia/Shanghai"
    assert stats.days == (
        DayMoods(date(2024, 5, 1), positive=1),
        DayMoods(date(2024, 5, 2), negative=2),
        DayMoods(date(2024, 5, 3)),
        DayMoods(date(2024, 5, 4), neutral=1),
        DayMoods(date(2024, 5, 5)),
    )
    assert (stats.total, stats.count("negative")) == (4, 2)
    assert stats.negative_share == 0.5
    assert stats.days[1].negative_share == 1.0
    assert stats.days[2].negative_share is None

    in_utc = await daily_moods(db, date(2024, 5, 1), date(2024, 5, 5), ZoneInfo("UTC"))
    assert [day.total for day in in_utc.days] == [2, 1, 0, 1, 1]


async def test_corrections_count_instead_of_the_model(db: Database) -> None:
    message = await tagged(db, ANN, "fine I guess", "negative", 0.6, utc(1, 12))
    await Store(db).correct_mood(message.id, "neutral", 1)

    stats = await daily_moods(db, date(2024, 5, 1), date(2024, 5, 1), ZoneInfo("UTC"))

    assert stats.days == (DayMoods(date(2024, 5, 1), neutral=1),)


async def test_an_empty_period_is_empty_not_missing(db: Database) -> None:
    stats = await daily_moods(db, date(2024, 5, 1), date(2024, 5, 7), ZoneInfo("UTC"))

    assert stats.is_empty
    assert len(stats.days) == 7
    assert stats.negative_share is None


async def test_a_period_that_ends_before_it_starts_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="before it starts"):
        await daily_moods(db, date(2024, 5, 2), date(2024, 5, 1), ZoneInfo("UTC"))


async def test_most_negative_customers_in_a_period(db: Database) -> None:
    for hour in (1, 2, 3):
        await tagged(db, BO, f"bo {hour}", "negative", 0.9, utc(2, hour))
    for hour in (4, 5):
        await tagged(db, ANN, f"ann {hour}", "negative", 0.9, utc(2, hour))
    await tagged(db, CY, "cy", "negative", 0.9, utc(2, 6))
    await tagged(db, CY, "cy glad", "positive", 0.9, utc(2, 7))
    await tagged(db, CY, "cy earlier", "negative", 0.9, utc(1, 7))
    corrected = await tagged(db, ANN, "ann 6", "negative", 0.9, utc(2, 8))
    await Store(db).correct_mood(corrected.id, "positive", 1)

    top = await most_negative_customers(db, utc(2, 0), utc(3, 0), limit=2)

    assert [(c.customer_id, c.name, c.username, c.negative) for c in top] == [
        (BO.id, "波", None, 3),
        (ANN.id, "Ann", "ann", 2),
    ]
    assert await most_negative_customers(db, utc(3, 0), utc(4, 0), limit=5) == []
