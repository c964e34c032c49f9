"""The bot token stays out of everything the bot writes, even at DEBUG and through failures:
its whole output (stdout and stderr, as the journal would get them) and its database."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.fake_telegram import FakeTelegram
from tests.service.support import (
    ANSWER_TIMEOUT,
    REPO,
    BotProcess,
    clean_env,
    wait_until_sync,
    write_config,
)

REJECTED_TOKEN = "987654321:AAWrongTokenWrongTokenWrongTokenWrong01"


def assert_token_absent(token: str, text: str, db_path: Path) -> None:
    secret = token.split(":", 1)[1]
    assert secret not in text
    files = sorted(db_path.parent.glob(db_path.name + "*"))
    assert files, "the bot wrote no database"
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


def test_the_token_never_reaches_the_output_or_the_database(
    threaded_fake: FakeTelegram,
    db_path: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
    bot_processes: list[BotProcess],
) -> None:
    fake = threaded_fake
    # Deployed the recommended way: the token in the environment, not in the file.
    config = write_config(
        tmp_path / "bot.toml",
        fake,
        db_path,
        tiny_model_dir,
        token="",
        logging={"level": "DEBUG", "log_message_text": True},
    )
    bot = BotProcess(config, tmp_path / "bot.log", env=clean_env(MOODBOT_TELEGRAM_TOKEN=fake.token))
    bot_processes.append(bot)
    bot.wait_ready()

    # A plain answer, then one through flood control, a server error and a timed-out call.
    fake.send_text(4001, 4001, "hello, where is my order?")
    fake.wait_for_messages_sync(4001, 1, ANSWER_TIMEOUT)
    fake.fail_next("sendMessage", status=429, retry_after=1)
    fake.fail_next("sendMessage", status=502)
    fake.fail_next("sendChatAction", status="timeout", delay=3.0)
    fake.send_text(4002, 4002, "this is the worst service ever")
    fake.wait_for_messages_sync(4002, 1, ANSWER_TIMEOUT)
    # Polling through an outage, a command, media, and a button no handler expects.
    fake.outage(1.5)
    time.sleep(2.0)
    fake.send_text(4001, 4001, "/mood")
    fake.send_sticker(4003, 4003)
    user = fake.add_user(4004)
    fake.inject_update(
        {"callback_query": {"id": "q1", "from": user, "chat_instance": "1", "data": "forget:"}}
    )
    fake.send_text(4004, 4004, "still there?")
    wait_until_sync(
        lambda: len(fake.messages(4001)) == 2 and fake.messages(4003) and fake.messages(4004),
        what=f"the last answers\n{fake.dump()}",
    )

    code, _ = bot.stop(signal.SIGTERM)
    assert code == 0
    output = bot.output()
    # The run did go through DEBUG logging and through the failures.
    assert "DEBUG telegram.ext.ExtBot: Calling Bot API endpoint `getMe`" in output
    assert "flood control" in output and "Bad Gateway (attempt" in output
    assert "polling Telegram failed (Bad Gateway); retrying" in output
    assert_token_absent(fake.token, output, db_path)


def test_a_rejected_token_is_reported_without_being_echoed(
    threaded_fake: FakeTelegram, db_path: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "bot.toml",
        threaded_fake,
        db_path,
        tiny_model_dir,
        token=REJECTED_TOKEN,
        logging={"level": "DEBUG"},
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "run"],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "moodbot: the Bot API rejected telegram.token (revoked?)"
    )
    assert "Traceback" not in result.stderr
    assert_token_absent(REJECTED_TOKEN, result.stdout + result.stderr, db_path)
