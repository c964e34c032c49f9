"""`moodbot check`: each prerequisite in turn, stopping at the first problem with a message
that says what to fix, and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from storage.migrations import head_revision
from tests.service.support import REPO, clean_env, write_config

WRONG_TOKEN = "987654321:AAWrongTokenWrongTokenWrongTokenWrong01"


def check(config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "check"],
        cwd=REPO,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    """A loopback port nobody listens on (for a moment at least)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def model_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir


def test_everything_in_place_passes(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    config = write_config(tmp_path / "c.toml", threaded_fake, tmp_path / "m.db", model_dir)
    result = check(config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "config: valid"
    assert lines[1] == (
        f"database: reachable, no schema yet: the bot upgrades it to {head_revision()} when it "
        "starts"
    )
    assert lines[2] == f"model: model directory {model_dir}"
    assert lines[3].startswith("facts: none configured")
    assert lines[4] == (
        "triage: 8 intents read beside each mood (order_status, shipping, returns, product, "
        "payment, order_change, feedback, other); handed to a person at once: order_status, "
        "order_change"
    )
    assert lines[5] == f"telegram: reachable, bot @{threaded_fake.bot_user['username']}"
    assert lines[-1] == "all checks passed"
    assert threaded_fake.token not in result.stdout + result.stderr


@pytest.mark.parametrize("cases", [12, 70])
def test_the_facts_file_is_reported(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path, cases: int
) -> None:
    """Its sections and statements per language, and how many of them a message picks from."""
    facts = tmp_path / "facts.md"
    sentences = " ".join(f"Case {number} fits the X{number} phone." for number in range(cases))
    facts.write_text(f"# Shop\n\n## Hours\n10:00–20:00.\n\n## Cases\n{sentences}\n")
    config = write_config(
        tmp_path / "c.toml",
        threaded_fake,
        tmp_path / "m.db",
        model_dir,
        knowledge={"file": str(facts)},
    )
    result = check(config)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("facts:")]
    assert line == (
        f"facts: {facts}: 2 sections, {cases + 1} statements ({cases + 1} in en); each message "
        "picks from the 8 that match it best"
    )


def test_an_empty_facts_file_stops_the_check_naming_the_key(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    facts = tmp_path / "facts.md"
    facts.write_text("\n")
    config = write_config(
        tmp_path / "c.toml",
        threaded_fake,
        tmp_path / "m.db",
        model_dir,
        knowledge={"file": str(facts)},
    )
    result = check(config)
    assert result.returncode == 2
    assert "config key knowledge.file:" in result.stderr
    assert "holds no facts" in result.stderr


def moodbot(config: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), *arguments],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_auto_migrate_the_schema_must_be_migrated_by_hand(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml",
        threaded_fake,
        tmp_path / "m.db",
        model_dir,
        database={"auto_migrate": False},
    )
    refused = moodbot(config, "check")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"moodbot check: database: no schema yet, this moodbot needs {head_revision()}, and "
        "database.auto_migrate is false: run `moodbot migrate`"
    )

    migrated = moodbot(config, "migrate")
    again = moodbot(config, "migrate")
    passed = moodbot(config, "check")

    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    assert (migrated.returncode, again.returncode, passed.returncode) == (0, 0, 0)
    assert migrated.stdout == (
        f"database {url}: upgraded from empty through 0001_initial, 0002_alembic_versions, "
        "0003_delivered_parts, 0004_handoffs, 0005_desk, 0006_desk_safety, 0007_desk_knowledge, "
        f"{head_revision()}\n"
    )
    assert again.stdout == f"database {url}: already at {head_revision()}, nothing to do\n"
    assert passed.stdout.splitlines()[1] == f"database: reachable, schema at {head_revision()}"


def test_token_from_the_environment_is_enough(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml", threaded_fake, tmp_path / "m.db", model_dir, token=""
    )
    assert check(config, MOODBOT_TELEGRAM_TOKEN=threaded_fake.token).returncode == 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+asyncpg://moodbot:s3cret-pw@127.0.0.1:{port}/moodbot",
            "moodbot check: database: cannot connect to database "
            "postgresql+asyncpg://moodbot:***@127.0.0.1:{port}/moodbot",
        ),
        (
            "sqlite+aiosqlite:////proc/moodbot/moodbot.db",
            "moodbot check: database: unusable database URL sqlite+aiosqlite:////proc/moodbot/",
        ),
        ("nosuchdb+driver://host/db", "moodbot check: database: unusable database URL"),
    ],
    ids=["server not listening", "directory cannot be created", "unknown dialect"],
)
def test_a_database_that_cannot_be_used_fails_first(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path, url: str, expected: str
) -> None:
    port = free_port()
    config = write_config(tmp_path / "c.toml", threaded_fake, tmp_path / "m.db", model_dir)
    result = check(config, MOODBOT_DATABASE_URL=url.format(port=port))
    assert result.returncode == 1
    assert result.stderr.startswith(expected.format(port=port)), result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # It stopped there: Telegram was never asked.
    assert threaded_fake.calls_to("getMe") == []
    assert result.stdout.splitlines() == ["config: valid"]


def test_a_model_directory_without_config_json_fails(
    threaded_fake: FakeTelegram, tmp_path: Path
) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    (empty / "model.safetensors").write_bytes(b"")
    config = write_config(tmp_path / "c.toml", threaded_fake, tmp_path / "m.db", empty)
    result = check(config)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"moodbot check: model: config key model.name: {empty} has no config.json"
    )
    assert threaded_fake.calls_to("getMe") == []


def test_a_missing_token_is_a_configuration_error(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml", threaded_fake, tmp_path / "m.db", model_dir, token=""
    )
    result = check(config)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "moodbot: configuration error: config key telegram.token: missing (set it in the "
        "config file or MOODBOT_TELEGRAM_TOKEN)"
    )


def test_a_malformed_token_is_a_configuration_error_that_does_not_echo_it(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    malformed = "123456:tooshort"
    config = write_config(
        tmp_path / "c.toml", threaded_fake, tmp_path / "m.db", model_dir, token=malformed
    )
    result = check(config)
    assert result.returncode == 2
    assert result.stderr.startswith("moodbot: configuration error: config key telegram.token:")
    assert malformed not in result.stdout + result.stderr


def test_a_token_telegram_rejects_fails_without_echoing_it(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml", threaded_fake, tmp_path / "m.db", model_dir, token=WRONG_TOKEN
    )
    result = check(config)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "moodbot check: telegram: the Bot API rejected telegram.token (revoked or mistyped?)"
    )
    assert WRONG_TOKEN not in result.stdout + result.stderr
    assert [call.status for call in threaded_fake.calls] == [401]


def test_an_unreachable_bot_api_fails(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/bot"
    config = write_config(
        tmp_path / "c.toml",
        threaded_fake,
        tmp_path / "m.db",
        model_dir,
        telegram={"base_url": nowhere},
    )
    result = check(config)
    assert result.returncode == 1
    expected = f"moodbot check: telegram: cannot reach the Bot API at {nowhere}"
    assert result.stderr.startswith(expected), result.stderr
    assert threaded_fake.token not in result.stdout + result.stderr


def test_a_bot_api_in_an_outage_fails(
    threaded_fake: FakeTelegram, tmp_path: Path, model_dir: Path
) -> None:
    threaded_fake.outage(60)
    config = write_config(tmp_path / "c.toml", threaded_fake, tmp_path / "m.db", model_dir)
    result = check(config)
    assert result.returncode == 1
    assert result.stderr.startswith("moodbot check: telegram: cannot reach the Bot API at")
    assert "Bad Gateway" in result.stderr
