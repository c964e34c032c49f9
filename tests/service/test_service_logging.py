"""The log format the journal reads, and what never gets into it: the token, and customers'
texts unless logging.log_message_text is on."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from bot.config import LoggingConfig
from bot.logging_setup import configure_logging

TOKEN = "123456789:AAFakeTelegramTokenForMoodbotTests0001"
OTHER_TOKEN_SHAPE = "5550001:ZZ_another-token-shaped-secret-value-42"


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """configure_logging rewires process-wide state; later tests get it back untouched."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    names = ("telegram", "aiosqlite", "httpx", "httpcore")
    levels = {name: logging.getLogger(name).level for name in names}
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
    sys.excepthook, threading.excepthook = hooks


def configured(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    level: str = "INFO",
    log_message_text: bool = False,
    journal: bool = False,
) -> None:
    if journal:
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    else:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    capsys.readouterr()
    configure_logging(LoggingConfig(level=level, log_message_text=log_message_text), TOKEN)


def test_lines_carry_level_logger_and_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(capsys, monkeypatch)
    logging.getLogger("bot.answering").info("chat %s: answered message %s", 42, 7)
    logging.getLogger("bot.answering").debug("not at INFO")
    assert capsys.readouterr() == ("", "INFO bot.answering: chat 42: answered message 7\n")


def test_under_the_journal_every_line_carries_its_priority(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(capsys, monkeypatch, journal=True)
    log = logging.getLogger("bot.delivery")
    log.warning("chat %s: flood control", 42)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("chat %s: answering failed", 42)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "<4>WARNING bot.delivery: chat 42: flood control"
    assert lines[1] == "<3>ERROR bot.delivery: chat 42: answering failed"
    # The traceback stays with its record: journald shows it at the record's priority.
    assert lines[2] == "<3>Traceback (most recent call last):"
    assert lines[-1] == "<3>RuntimeError: boom"
    assert all(line.startswith("<3>") for line in lines[1:])


def test_the_token_is_redacted_from_messages_arguments_and_tracebacks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(capsys, monkeypatch, level="DEBUG")
    log = logging.getLogger("bot.service")
    log.warning("GET https://api.telegram.org/bot%s/getMe failed", TOKEN)
    log.warning(f"and in the message itself: {TOKEN}")
    log.warning("anything shaped like a token: %s", OTHER_TOKEN_SHAPE)
    try:
        raise ValueError(f"The token `{TOKEN}` was rejected by the server.")
    except ValueError:
        log.exception("startup failed")
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert TOKEN.split(":")[1] not in err
    assert OTHER_TOKEN_SHAPE not in err
    assert "GET https://api.telegram.org/bot<token>/getMe failed" in err
    assert "ValueError: The token `<token>` was rejected by the server." in err


def test_an_uncaught_exception_is_logged_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(capsys, monkeypatch)
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    thread = threading.Thread(target=lambda: 1 / 0, name="moodbot-inference")
    thread.start()
    thread.join()
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert "CRITICAL moodbot: uncaught exception" in err
    assert "RuntimeError: The token `<token>` was rejected by the server." in err
    assert "CRITICAL moodbot: uncaught exception in moodbot-inference" in err
    assert "ZeroDivisionError" in err


@pytest.mark.parametrize("log_message_text", [False, True], ids=["default", "opted in"])
def test_libraries_dump_payloads_only_when_message_texts_may_be_logged(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, log_message_text: bool
) -> None:
    configured(capsys, monkeypatch, level="DEBUG", log_message_text=log_message_text)
    payload = "Processing update Update(message=Message(text='my card number is 4111…'))"
    logging.getLogger("telegram.ext.Application").debug(payload)
    logging.getLogger("aiosqlite").debug("executing INSERT INTO messages … ('my card …',)")
    logging.getLogger("telegram.ext.Updater").info("polling started")
    logging.getLogger("bot.service").debug("our own debug lines stay")
    err = capsys.readouterr().err
    assert ("my card" in err) == log_message_text
    assert "INFO telegram.ext.Updater: polling started" in err
    assert "DEBUG bot.service: our own debug lines stay" in err


def test_a_quieter_level_is_not_made_louder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(capsys, monkeypatch, level="WARNING")
    logging.getLogger("telegram.ext.Updater").info("polling started")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot…")
    assert capsys.readouterr().err == ""


def test_the_webhook_secret_never_reaches_the_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    capsys.readouterr()
    secret = "webhook-secret_0123456789"
    configure_logging(LoggingConfig(), TOKEN, [secret])
    logging.getLogger("telegram.ext").warning("setWebhook {'secret_token': %r}", secret)
    err = capsys.readouterr().err
    assert secret not in err and "<secret>" in err
