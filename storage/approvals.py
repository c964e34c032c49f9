"""Drafted replies that wait for an operator's decision, and the decisions (who, when, what was
sent). A draft is decided once: the first decision wins, however often buttons are pressed.
A decision to send is delivered like any answer (bot.pipeline), so a restart delivers it once.
An operator's request to edit a draft is stored too: their next message is the new text."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.errors import ConstraintError
from storage.models import Approval, ApprovalEdit
from storage.transaction import read_transaction, transaction

Decision = Literal["sent", "edited", "discarded"]
# The decisions that send the customer a reply.
SENDING: tuple[Decision, ...] = ("sent", "edited")


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    message_id: int
    draft: str
    created_at: datetime
    decision: Decision | None
    operator_id: int | None
    decided_at: datetime | None
    sent_text: str | None


class Approvals:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def draft(self, message_id: int, text: str, at: datetime) -> ApprovalRecord:
        """The draft for a customer's message; the one stored before if there is one."""
        try:
            async with self._transaction() as session:
                earlier = await session.scalar(
                    select(Approval).where(Approval.message_id == message_id)
                )
                if earlier is not None:
                    return _record(earlier)
                row = Approval(message_id=message_id, draft=text, created_at=at)
                session.add(row)
                await session.flush()
                return _record(row)
        except ConstraintError:
            # Drafted concurrently: the other one counts.
            found = await self.for_message(message_id)
            assert found is not None
            return found

    async def for_message(self, message_id: int) -> ApprovalRecord | None:
        async with self._reading() as session:
            row = await session.scalar(select(Approval).where(Approval.message_id == message_id))
            return None if row is None else _record(row)

    async def get(self, approval_id: int) -> ApprovalRecord | None:
        async with self._reading() as session:
            row = await session.get(Approval, approval_id)
            return None if row is None else _record(row)

    async def decide(
        self,
        approval_id: int,
        decision: Decision,
        operator_id: int,
        sent_text: str | None,
        at: datetime,
    ) -> bool:
        """Record the decision unless one was made already; True if this one counts."""
        statement = (
            update(Approval)
            .where(Approval.id == approval_id, Approval.decision.is_(None))
            .values(decision=decision, operator_id=operator_id, sent_text=sent_text, decided_at=at)
        )
        async with self._transaction() as session:
            result = await session.execute(statement)
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def request_edit(
        self, desk_chat_id: int, thread_id: int, operator_id: int, approval_id: int
    ) -> None:
        """The operator's next message in this chat and topic (0: none) is the approval's new
        text; a request made before there by them is replaced."""
        where = (
            ApprovalEdit.desk_chat_id == desk_chat_id,
            ApprovalEdit.thread_id == thread_id,
            ApprovalEdit.operator_id == operator_id,
        )
        async with self._transaction() as session:
            await session.execute(delete(ApprovalEdit).where(*where))
            session.add(
                ApprovalEdit(
                    desk_chat_id=desk_chat_id,
                    thread_id=thread_id,
                    operator_id=operator_id,
                    approval_id=approval_id,
                )
            )

    async def take_edit_request(
        self, desk_chat_id: int, thread_id: int, operator_id: int
    ) -> ApprovalRecord | None:
        """The approval whose new text the operator's message there is, once."""
        statement = (
            delete(ApprovalEdit)
            .where(
                ApprovalEdit.desk_chat_id == desk_chat_id,
                ApprovalEdit.thread_id == thread_id,
                ApprovalEdit.operator_id == operator_id,
            )
            .returning(ApprovalEdit.approval_id)
        )
        async with self._transaction() as session:
            approval_id = (await session.execute(statement)).scalar_one_or_none()
            if approval_id is None:
                return None
            row = await session.get(Approval, approval_id)
            return None if row is None else _record(row)

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        return transaction(self._database)

    def _reading(self) -> AbstractAsyncContextManager[AsyncSession]:
        return read_transaction(self._database)


def _record(row: Approval) -> ApprovalRecord:
    return ApprovalRecord(
        row.id,
        row.message_id,
        row.draft,
        row.created_at,
        row.decision,  # type: ignore[arg-type]
        row.operator_id,
        row.decided_at,
        row.sent_text,
    )
