"""The layers import one way (tui -> engine -> store): the import-linter contracts hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert "Contracts: 2 kept, 0 broken" in result.stdout


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
