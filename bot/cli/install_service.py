"""`moodbot install-service`: install the systemd unit for this installation of moodbot."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

UNIT_NAME = "moodbot.service"
DEFAULT_EXEC = "/opt/moodbot/.venv/bin/moodbot"
DEFAULT_CONFIG = "/etc/moodbot/config.toml"
ENV_FILE = "/etc/moodbot/moodbot.env"


def unit_template() -> str:
    """The unit in deploy/ of the source tree moodbot is installed from (scripts/setup
    installs it editable, so the tree is always there)."""
    source = Path(__file__).resolve().parents[2] / "deploy" / UNIT_NAME
    if not source.is_file():
        raise FileNotFoundError(f"{source} is missing: install moodbot from its source tree")
    return source.read_text(encoding="utf-8")


def render_unit(executable: str, config: Path, env_file: Path) -> str:
    """The unit with ExecStart pointing at this moodbot, this config and this env file."""
    return (
        unit_template()
        .replace(
            f"ExecStart={DEFAULT_EXEC} --config {DEFAULT_CONFIG} run",
            f"ExecStart={executable} --config {config} run",
        )
        .replace(f"EnvironmentFile={ENV_FILE}", f"EnvironmentFile={env_file}")
    )


def this_executable() -> str:
    found = shutil.which("moodbot") or str(Path(sys.executable).with_name("moodbot"))
    return str(Path(found).resolve())


def install(unit_dir: Path, config: Path, env_file: Path, executable: str) -> list[str]:
    """Write the unit (and an env file template if none exists); returns what was done."""
    done = []
    unit_dir.mkdir(parents=True, exist_ok=True)
    unit_path = unit_dir / UNIT_NAME
    unit_path.write_text(render_unit(executable, config, env_file), encoding="utf-8")
    done.append(f"wrote {unit_path}")
    if not env_file.exists():
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text(
            "# Read by systemd (EnvironmentFile=). Keep this file mode 0600.\n"
            "MOODBOT_TELEGRAM_TOKEN=\n",
            encoding="utf-8",
        )
        env_file.chmod(0o600)
        done.append(f"created {env_file} (mode 0600): put the bot token in it")
    if not config.exists():
        done.append(f"no config at {config} yet: copy config.example.toml there")
    return done


NEXT_STEPS = """next:
  systemctl daemon-reload
  systemctl enable --now moodbot
  journalctl -u moodbot -f"""
