"""The bot's timed jobs (the daily digest, the idle checks), run by python-telegram-bot's
JobQueue in every process but carried out only by the process that leads them: with several
bot processes on one database, each job happens once. A job that keeps each process's own
state fresh (the desk facts its engine answers from) runs in every process instead."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import time

from telegram.ext import ContextTypes, JobQueue

from storage import StorageError
from storage.leader import TimedJobsLeader

log = logging.getLogger(__name__)

Job = Callable[[ContextTypes.DEFAULT_TYPE], Awaitable[None]]


class TimedJobs:
    def __init__(
        self,
        job_queue: JobQueue | None,  # type: ignore[type-arg]
        leader: TimedJobsLeader,
    ) -> None:
        self._job_queue = job_queue
        self._leader = leader

    @property
    def available(self) -> bool:
        """python-telegram-bot's job queue is installed (its `job-queue` extra)."""
        return self._job_queue is not None

    def daily(self, job: Job, at: time, name: str) -> None:
        self._queue().run_daily(self._led(job, name), at, name=name)

    def repeating(self, job: Job, seconds: float, name: str) -> None:
        self._queue().run_repeating(self._led(job, name), interval=seconds, name=name)

    def in_every_process(self, job: Job, seconds: float, name: str) -> None:
        self._queue().run_repeating(job, interval=seconds, name=name)

    def _queue(self) -> JobQueue:  # type: ignore[type-arg]
        if self._job_queue is None:
            raise RuntimeError(
                "timed jobs need python-telegram-bot's job queue: "
                "pip install 'python-telegram-bot[job-queue]'"
            )
        return self._job_queue

    def _led(self, job: Job, name: str) -> Job:
        async def run(context: ContextTypes.DEFAULT_TYPE) -> None:
            try:
                leading = await self._leader.leading()
            except StorageError as exc:
                log.warning("%s: skipped, %s", name, exc)
                return
            if not leading:
                log.info("%s: left to the process leading the timed jobs", name)
                return
            await job(context)

        return run
