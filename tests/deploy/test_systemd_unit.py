"""The shipped systemd unit and its installer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from bot.cli.install_service import render_unit
from bot.cli.main import main
from bot.systemd import SystemdNotifier

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _installed_unit(tmp_path: Path) -> Path:
    env_file = tmp_path / "moodbot.env"
    env_file.write_text("MOODBOT_TELEGRAM_TOKEN=\n")
    executable = shutil.which("true") or "/bin/true"
    unit = tmp_path / "moodbot.service"
    unit.write_text(render_unit(executable, tmp_path / "config.toml", env_file))
    return unit


@needs_systemd
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(_installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "moodbot.service" not in result.stderr, result.stderr


@needs_systemd
def test_unit_is_hardened(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(_installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    last = [line for line in result.stdout.splitlines() if "Overall exposure level" in line]
    assert last, result.stdout + result.stderr
    score = float(last[0].split(":")[1].split()[0])
    assert score <= 2.0, last[0]


def test_reload_sends_sighup_which_rereads_the_facts(tmp_path: Path) -> None:
    unit = _installed_unit(tmp_path).read_text()
    assert "\nExecReload=/bin/kill -HUP $MAINPID\n" in unit


def test_install_service_writes_unit_and_env_template(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "config.toml"
    env_file = tmp_path / "etc" / "moodbot.env"
    command = [
        "--config", str(config), "install-service",
        "--unit-dir", str(tmp_path / "units"), "--env-file", str(env_file),
    ]  # fmt: skip
    code = main(command)
    assert code == 0
    unit = (tmp_path / "units" / "moodbot.service").read_text()
    assert f"--config {config.resolve()} run" in unit
    assert f"EnvironmentFile={env_file}" in unit
    assert "Type=notify" in unit
    assert env_file.stat().st_mode & 0o777 == 0o600
    # Running it again keeps a token the operator already put in the env file.
    env_file.write_text("MOODBOT_TELEGRAM_TOKEN=123:abc\n")
    main(command)
    assert env_file.read_text() == "MOODBOT_TELEGRAM_TOKEN=123:abc\n"


def test_notifier_speaks_sd_notify(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = SystemdNotifier(
            {
                "NOTIFY_SOCKET": str(path),
                "WATCHDOG_USEC": "4000000",
                "WATCHDOG_PID": str(os.getpid()),
            }
        )
        assert notifier.ready("polling")
        assert server.recv(1024) == b"READY=1\nSTATUS=polling"
        assert notifier.watchdog_interval == 2.0
        assert notifier.stopping()
        assert server.recv(1024) == b"STOPPING=1\nSTATUS=stopping"


def test_notifier_is_silent_outside_systemd() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert notifier.watchdog_interval is None
    assert (
        SystemdNotifier(
            {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "1"}
        ).watchdog_interval
        is None
    )
