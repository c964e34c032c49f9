"""One chat answered at a time across the bot processes that share one PostgreSQL database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, text

from storage.advisory_lock import AdvisoryLockAcrossProcesses


class ChatLockAcrossProcesses(AdvisoryLockAcrossProcesses):
    """Keyed by the chat id, in PostgreSQL's single 64-bit key space."""

    what = "chat"

    def statement(self, key: int) -> tuple[TextClause, dict[str, Any]]:
        return text("SELECT pg_advisory_xact_lock(:chat)"), {"chat": key}
