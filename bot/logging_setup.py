"""Logs for the journal: one line per record, a priority prefix, and never the bot token."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Sequence
from types import TracebackType

from bot.config import LoggingConfig
from bot.library_output import DemoteLibraryNoise, route_warnings_to_log

# sd-daemon priority prefixes: journald reads "<N>" at the start of a line as the priority.
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}
_TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}\b")
# Libraries that log whole payloads at DEBUG (updates, Bot API and SQL parameters):
# those carry customers' messages, which the logs hold only with log_message_text on.
_PAYLOAD_LOGGERS = ("telegram", "aiosqlite")


class RedactingFilter(logging.Filter):
    """Removes the bot token (and anything shaped like one) from every record, arguments and
    tracebacks included: httpx logs request URLs, and those carry the token."""

    def __init__(self, token: str, other_secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self._token = token
        self._others = [secret for secret in other_secrets if secret]

    def _clean(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "<token>")
        for secret in self._others:
            text = text.replace(secret, "<secret>")
        return _TOKEN_SHAPE.sub("<token>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.getMessage())
        record.args = None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self._clean(formatted)
            record.exc_info = None
        return True


class JournalFormatter(logging.Formatter):
    def __init__(self, with_priority: bool) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self._with_priority = with_priority

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if self._with_priority:
            prefix = f"<{_PRIORITY.get(record.levelno, 6)}>"
            line = "\n".join(prefix + part for part in line.splitlines())
        return line


def configure_logging(config: LoggingConfig, token: str, other_secrets: Sequence[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    # Under systemd stderr is connected to the journal and JOURNAL_STREAM says so.
    handler.setFormatter(JournalFormatter(with_priority="JOURNAL_STREAM" in os.environ))
    handler.addFilter(DemoteLibraryNoise())
    handler.addFilter(RedactingFilter(token, other_secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level)
    # httpx logs every request at INFO with the full URL; keep it out of normal logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Alembic narrates each step at INFO; storage.migrations logs what was upgraded instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # With no retries of its own, the rate limiter logs every 429 with a traceback before
    # handing it on; bot.delivery handles it and says so in one line.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    route_warnings_to_log()
    for name in _PAYLOAD_LOGGERS:
        payloads = logging.getLogger(name)
        payloads.setLevel(logging.NOTSET)
        if not config.log_message_text:
            payloads.setLevel(max(logging.INFO, payloads.getEffectiveLevel()))
    # Python prints an exception nobody caught itself, past the filter above, and
    # python-telegram-bot puts the token in the message of the InvalidToken it raises at start.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("moodbot").critical("uncaught exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    # As threading's own hook does, a thread that called sys.exit() is left in peace.
    if args.exc_value is not None and args.exc_type is not SystemExit:
        thread = args.thread.name if args.thread is not None else "a thread"
        logging.getLogger("moodbot").critical(
            "uncaught exception in %s",
            thread,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )
