"""With several bot processes behind a balancer that may give each of them the same update, an
update that acts on more than the customer's own answer (an operator's message, a button, a
command) is handled by one of them: the first to claim it in the database. A customer's text is
not claimed: its answer is kept to one by the chat's lock and the stored messages' constraints
(bot.answering), whichever process gets its turn."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.timed_jobs import TimedJobs
from storage import Clock, StorageError
from storage.update_claims import UpdateClaims

log = logging.getLogger(__name__)

# Telegram gives up on delivering an update after a day; claims are kept a while longer.
CLAIMS_KEPT = timedelta(days=2)
PRUNE_EVERY_SECONDS = 3600.0


def claim_key(update: Update) -> str:
    """What the update is about, unique for good (update ids are reused after a quiet week)."""
    if update.callback_query is not None:
        return f"button:{update.callback_query.id}"
    if update.edited_message is not None:
        edited = update.edited_message
        stamp = int(edited.edit_date.timestamp()) if edited.edit_date else 0
        return f"edit:{edited.chat_id}:{edited.message_id}:{stamp}"
    message = update.effective_message
    if message is not None:
        return f"message:{message.chat_id}:{message.message_id}"
    return f"update:{update.update_id}"


class OneProcessPerUpdate:
    def __init__(self, claims: UpdateClaims, clock: Clock, *, across_processes: bool) -> None:
        self._claims = claims
        self._clock = clock
        # A SQLite database serves one process: nothing to claim.
        self._across_processes = across_processes

    async def claim(self, update: Update) -> None:
        """Return when this process is to handle the update; raise ApplicationHandlerStop when
        another one does."""
        if not self._across_processes:
            return
        key = claim_key(update)
        try:
            claimed = await self._claims.claim(key, self._clock())
        except StorageError as exc:
            # Handled here rather than by nobody: the database is likely out for all of them.
            log.warning("update %s: could not claim it (%s); handling it", key, exc)
            return
        if not claimed:
            log.info("update %s: handled by another process", key)
            raise ApplicationHandlerStop

    def schedule(self, jobs: TimedJobs) -> None:
        if self._across_processes and jobs.available:
            jobs.repeating(self._prune, PRUNE_EVERY_SECONDS, "forget old update claims")

    async def _prune(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self._claims.forget_before(self._clock() - CLAIMS_KEPT)
        except StorageError as exc:
            log.warning("could not forget old update claims: %s", exc)
