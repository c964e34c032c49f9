"""Timezone-aware UTC datetimes that read back aware on every backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# What reads "now" takes one of these, so that tests can fix the time.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system clock, as a Clock."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime column that stores UTC and always returns an aware UTC datetime.

    SQLite has no time zone type: it keeps the wall-clock digits and returns a naive value.
    Converting to UTC on the way in makes those digits UTC, so reading can label them so.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive value has no defined instant; guessing a zone would silently shift it.
            raise ValueError(f"naive datetime {value.isoformat()}: storage needs an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
