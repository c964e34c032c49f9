"""The wheel carries what an installed moodbot needs besides its modules: the schema's
revisions, which it must find from wherever it is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_migrations_and_finds_them_installed(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "NOTICE"):
        shutil.copy(ROOT / name, source / name)
    for package in ("engine", "storage", "bot"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("moodbot-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(installed)
    revisions = sorted(path.name for path in (ROOT / "storage/migrations/versions").glob("*.py"))
    assert {f"storage/migrations/versions/{name}" for name in revisions} <= names
    assert {"storage/migrations/env.py", "storage/migrations/script.py.mako"} <= names

    # Outside the source tree, with only the installed files on the path.
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "from storage.migrations import head_revision, MIGRATIONS_DIR;"
            "print(head_revision(), MIGRATIONS_DIR)",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert found == [revisions[-1].removesuffix(".py"), str(installed / "storage/migrations")]
