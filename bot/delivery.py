"""Calls to Telegram that must get through: flood control is waited out, outages retried."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

T = TypeVar("T")

# About four minutes of retrying in all before an answer is left for the restart recovery.
MAX_ATTEMPTS = 10
MAX_BACKOFF = 30.0


class DeliveryFailed(Exception):
    """Telegram did not accept the call after all retries."""


async def deliver(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Run `call` until Telegram accepts it. RetryAfter waits exactly as long as Telegram asks;
    network errors and 5xx back off exponentially. Bad requests and blocked chats are final."""
    backoff = 0.5
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as exc:
            wait = retry_seconds(exc)
            log.warning("%s: flood control, retrying in %.1f s", what, wait)
            await asyncio.sleep(wait)
        except (BadRequest, Forbidden):
            raise
        except (TimedOut, NetworkError) as exc:
            # A timed-out call may have reached Telegram all the same, and no API call can tell.
            # Retrying risks the customer seeing a message twice; not retrying risks them never
            # seeing it. The first is the lesser harm (and edits are idempotent anyway).
            if attempt == MAX_ATTEMPTS:
                raise DeliveryFailed(f"{what}: {exc}") from exc
            log.warning("%s: %s (attempt %d), retrying in %.1f s", what, exc, attempt, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
    raise DeliveryFailed(f"{what}: still rate-limited after {MAX_ATTEMPTS} attempts")


def retry_seconds(exc: RetryAfter) -> float:
    """The wait Telegram asks for. python-telegram-bot 22 warns on reading it unless told to
    return a timedelta (a process-wide setting), which this module is not the place to change."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
