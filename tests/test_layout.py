"""The layout's rules (DESIGN.md): who may import whom, and what stays light to import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Per top-level folder: modules its files must never import (a name and everything under it).
FORBIDDEN = {
    "engine": ("telegram", "sqlalchemy", "storage", "bot", "tests", "bench"),
    "storage": ("telegram", "torch", "transformers", "bot", "tests", "bench"),
    "bot": ("tests", "bench"),
    "bench": ("tests",),
}
# What storage may use of the engine: the shared mood vocabulary, which imports nothing heavy.
STORAGE_MAY_IMPORT_FROM_ENGINE = ("engine.vocabulary",)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_folder_imports_what_the_layout_forbids(folder: str) -> None:
    broken = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in python_files(folder)
        for module in sorted(imported_modules(path))
        if any(within(module, forbidden) for forbidden in FORBIDDEN[folder])
        or (
            folder == "storage"
            and within(module, "engine")
            and module not in STORAGE_MAY_IMPORT_FROM_ENGINE
        )
    ]
    assert broken == []


def test_the_rule_checker_sees_lazy_and_nested_imports(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import os.path\nfrom tests.fake import x\n\n\ndef later():\n    import torch\n"
        "    from . import sibling\n",
        encoding="utf-8",
    )
    assert imported_modules(source) == {"os.path", "tests.fake", "torch"}


def modules_loaded_by(statement: str) -> set[str]:
    """The heavy libraries in sys.modules after `statement`, in a fresh interpreter."""
    probe = (
        f"{statement}\nimport sys\n"
        "print(' '.join(m for m in ('torch', 'transformers', 'telegram') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_the_vocabulary_storage_and_the_engine_package_load_no_torch() -> None:
    # Storage runs beside any engine, and `import engine` must stay cheap for the CLI.
    assert modules_loaded_by("import engine, engine.vocabulary, storage") == set()


def test_the_probe_does_see_torch() -> None:
    assert "torch" in modules_loaded_by("import engine.mood")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_cycles(folder: str) -> list[list[str]]:
    """The import cycles among the modules of `folder`, counting every import (those only
    for type checking too: they tie the modules together all the same)."""
    modules = {module_name(path): path for path in python_files(folder)}
    graph = {
        name: {module for module in imported_modules(path) if module in modules and module != name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        visiting.append(name)
        for module in sorted(graph[name]):
            if module in visiting:
                cycles.append([*visiting[visiting.index(module) :], module])
            elif module not in done:
                visit(module)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            visit(name)
    return cycles


@pytest.mark.parametrize("folder", ["bot", "engine", "storage"])
def test_no_import_cycles(folder: str) -> None:
    assert import_cycles(folder) == []


def test_the_cycle_finder_sees_a_cycle_through_type_checking_imports(tmp_path: Path) -> None:
    package = ROOT / "bot" / "_cycle_probe"
    package.mkdir()
    try:
        (package / "__init__.py").write_text("", encoding="utf-8")
        (package / "one.py").write_text("from bot._cycle_probe.two import x\n", encoding="utf-8")
        (package / "two.py").write_text(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from bot._cycle_probe.one import y\n",
            encoding="utf-8",
        )
        assert ["bot._cycle_probe.one", "bot._cycle_probe.two", "bot._cycle_probe.one"] in (
            import_cycles("bot")
        )
    finally:
        for path in package.iterdir():
            path.unlink()
        package.rmdir()
