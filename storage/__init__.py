"""Persistence for moodbot: customers, messages, moods and resets, on SQLite or PostgreSQL."""

from storage.database import Database, redact_url
from storage.errors import ConstraintError, MessageNotFoundError, StorageError
from storage.records import (
    AnswerDeliveryRecord,
    CustomerInfo,
    HistoryTurn,
    PlannedPart,
    Role,
    Status,
    StoredMessage,
)
from storage.store import Store
from storage.utc_datetime import Clock, utc_now

__all__ = [
    "AnswerDeliveryRecord",
    "Clock",
    "ConstraintError",
    "CustomerInfo",
    "Database",
    "HistoryTurn",
    "MessageNotFoundError",
    "PlannedPart",
    "Role",
    "Status",
    "StorageError",
    "Store",
    "StoredMessage",
    "redact_url",
    "utc_now",
]
