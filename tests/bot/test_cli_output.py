"""`moodbot chat` in a terminal: the conversation is not interleaved with library noise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from transformers.utils import logging as transformers_logging

from bot.config import LoggingConfig
from bot.library_output import quiet_transformers
from bot.logging_setup import configure_logging


def _chat(tmp_path: Path, tiny_model_dir: Path, level: str) -> str:
    """Run `moodbot chat` for one message in a fresh process; its stdout and stderr together."""
    config = tmp_path / f"config-{level}.toml"
    config.write_text(
        f'[model]\nname = "{tiny_model_dir}"\n\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "chat.db"}"\n\n'
        "[reply]\nmax_new_tokens = 4\ntemperature = 0.0\n\n"
        f'[logging]\nlevel = "{level}"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--config", str(config)],
        input="hello\n/quit\n",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=True,
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chat-output")


def test_chat_prints_no_library_progress_bars_or_warnings(
    module_tmp: Path, tiny_model_dir: Path
) -> None:
    printed = _chat(module_tmp, tiny_model_dir, "INFO")
    assert "you> [" in printed, printed
    assert "Loading weights" not in printed
    assert "it/s" not in printed  # no progress bar of any kind
    assert "Warning" not in printed and "deprecated" not in printed


def test_no_call_of_ours_is_deprecated(module_tmp: Path, tiny_model_dir: Path) -> None:
    # At DEBUG level the libraries' warnings are in the log: none says we call the deprecated.
    printed = _chat(module_tmp, tiny_model_dir, "DEBUG")
    assert "you> [" in printed, printed
    assert "deprecated" not in printed.lower(), printed


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_library_warnings_are_debug_records(
    level: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setattr(logging.getLogger(), "level", logging.getLogger().level)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    configure_logging(LoggingConfig(level=level), token="")
    quiet_transformers()
    try:
        transformers_logging.get_logger("transformers.modeling_utils").warning("weights noise")
        warnings.warn("an old call", FutureWarning, stacklevel=1)
        logging.getLogger("moodbot").warning("ours")
    finally:
        logging.captureWarnings(False)
    err = capsys.readouterr().err
    assert "WARNING moodbot: ours" in err
    if level == "DEBUG":
        assert "DEBUG transformers.modeling_utils: weights noise" in err
        assert "DEBUG py.warnings:" in err and "an old call" in err
    else:
        assert "weights noise" not in err and "an old call" not in err
