"""The layers import one way (tui -> engine -> store): the import-linter contracts hold.
The console and the command line import no store or driver module (only the engine's
public surface: errors, vocabulary, paths), the command line has no import cycle, and the
engine's capability packages import only those below them (docs/architecture.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_lint(env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "LINT_IMPORTS": str(Path(sys.executable).parent / "lint-imports")}
    env.update(env_extra or {})
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "lint-imports")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_import_contracts_hold() -> None:
    result = run_lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 8 kept, 0 broken" in result.stdout


def _lint_tree(tmp_path: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """import-linter on a copy of tui/ and engine/ with ``extra`` lines appended to some
    files (paths from the repo root; the store is linked, unchanged), with this
    repository's contracts."""
    pkg = tmp_path / "switchyard"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for layer in ("tui", "engine"):
        shutil.copytree(ROOT / layer, pkg / layer, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "store").symlink_to(ROOT / "store")
    for name, line in extra.items():
        with (pkg / name).open("a") as fh:
            fh.write(f"\n{line}\n")
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(lint), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )


@pytest.mark.parametrize(
    ("name", "line", "broken"),
    [
        ("tui/screens/bulk.py", "from switchyard.store.db import StoreError", "only to the"),
        ("tui/display.py", "from sqlalchemy.exc import SQLAlchemyError", "only to the engine"),
        ("tui/cli/commands/people.py", "from switchyard.tui.cli.commands import ops", "independ"),
        ("tui/cli/root.py", "from switchyard.tui.cli import registry", "main -> registry"),
        # the engine's own layers: an upward import, the kernel reaching out, the facade
        ("engine/runs/runner.py", "import switchyard.engine.process.host", "by capability"),
        ("engine/kernel/tx.py", "import switchyard.engine.people.guard", "kernel"),
        ("engine/schedules/scheduler.py", "import switchyard.engine.api", "the facade"),
    ],
)
def test_the_contracts_catch_a_console_store_import_and_a_cli_cycle(
    tmp_path: Path, name: str, line: str, broken: str
) -> None:
    result = _lint_tree(tmp_path, {name: line})
    assert result.returncode != 0, result.stdout
    broken_lines = [x for x in result.stdout.splitlines() if "BROKEN" in x]
    assert broken_lines, result.stdout
    assert broken in result.stdout.split("Broken contracts")[-1], result.stdout


def test_only_switchyard_namespace_is_installed() -> None:
    """engine/store/tui import as switchyard.* and never as generic top-level packages."""
    code = (
        "import importlib.util as u, switchyard.engine, switchyard.store, switchyard.tui;"
        "print([n for n in ('engine', 'store', 'tui') if u.find_spec(n)])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_package_folder_is_in_the_wheel() -> None:
    """pyproject lists packages one by one (the package-dir mapping rules out discovery):
    a new folder with an __init__.py must be listed, or a non-editable install lacks it."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        "switchyard." + ".".join(init.parent.relative_to(ROOT).parts)
        for layer in ("tui", "engine", "store")
        for init in (ROOT / layer).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"
