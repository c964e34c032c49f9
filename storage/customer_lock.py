"""One desk action for a customer at a time across the bot processes that share one PostgreSQL
database: opening their topic, mirroring into it, an operator's message to them, the bot's
answer's delivery."""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, text

from storage.advisory_lock import AdvisoryLockAcrossProcesses

# PostgreSQL's two-key advisory locks are a key space apart from the one-key (chat) locks;
# the first key says whose they are.
CUSTOMER_LOCKS = 1


def folded(customer_id: int) -> int:
    """The customer's id as a signed 32-bit key. Ids that fold alike only wait for each other."""
    low = customer_id & 0xFFFF_FFFF
    return low - 2**32 if low >= 2**31 else low


class CustomerLockAcrossProcesses(AdvisoryLockAcrossProcesses):
    what = "customer"

    def statement(self, key: int) -> tuple[TextClause, dict[str, Any]]:
        statement = text("SELECT pg_advisory_xact_lock(:space, :customer)")
        return statement, {"space": CUSTOMER_LOCKS, "customer": folded(key)}
