"""What model libraries print goes to our log at debug level, not between a customer's lines.

transformers draws its own progress bars (loading weights, writing shards) and prints its
warnings through a handler of its own; Python's `warnings` go straight to stderr. In `moodbot
chat` those land in the conversation, and in the journal they read as problems when they are
not. Our own progress bar for the first conversion of a packaged model stays.
"""

from __future__ import annotations

import logging

# Loggers whose records are library noise: demoted to DEBUG wherever they come from.
NOISY_LOGGERS = ("transformers", "huggingface_hub", "py.warnings")


class DemoteLibraryNoise(logging.Filter):
    """A handler filter: records of NOISY_LOGGERS become DEBUG records, kept only when the log
    is at DEBUG level (their own loggers let them through at a higher level than ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(NOISY_LOGGERS):
            return True
        record.levelno = logging.DEBUG
        record.levelname = logging.getLevelName(logging.DEBUG)
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def route_warnings_to_log() -> None:
    """Python's warnings (deprecations of the libraries we call) become log records."""
    logging.captureWarnings(True)


def quiet_transformers() -> None:
    """transformers logs through our handlers (hence demoted) and draws no progress bars.
    Called before the local model loads; it imports transformers, so never for the OpenAI
    backend."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.disable_default_handler()
    transformers_logging.enable_propagation()
