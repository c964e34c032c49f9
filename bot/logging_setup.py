"""Logs for the journal: one line per record, a priority prefix, and never the bot token."""

from __future__ import annotations

import logging
import os
import re
import sys

from bot.config import LoggingConfig

# sd-daemon priority prefixes: journald reads "<N>" at the start of a line as the priority.
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}
_TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}\b")


class RedactingFilter(logging.Filter):
    """Removes the bot token (and anything shaped like one) from every record, arguments and
    tracebacks included: httpx logs request URLs, and those carry the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def _clean(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "<token>")
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


def configure_logging(config: LoggingConfig, token: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    # Under systemd stderr is connected to the journal and JOURNAL_STREAM says so.
    handler.setFormatter(JournalFormatter(with_priority="JOURNAL_STREAM" in os.environ))
    handler.addFilter(RedactingFilter(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level)
    # httpx logs every request at INFO with the full URL; keep it out of normal logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
