"""The command line answers without importing what it does not use (issue 14): ``--help``
imports no engine, SQLAlchemy or asyncio; ``lane list``, ``instances`` and ``schedule next``
on a current store import neither Alembic (the schema check compares the stored revision
with ``store.migrate.HEAD``) nor Jinja, httpx, aiosmtplib, psutil or Textual, nor the
engine's facade, the SQLModel tables or pydantic (engine/reads.py, tui/cli/coercion.py). Checked on
the real console script's code with ``python -X importtime`` (a deterministic check of
the lever, not a timing)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = {"alembic", "jinja2", "httpx", "aiosmtplib", "psutil", "textual", "mako"}
ENGINE = {"switchyard.engine.api", "sqlalchemy", "sqlmodel", "asyncio"}


def imported(env: dict[str, str], *args: str) -> set[str]:
    """Every module the ``switchyard ARGS`` process imported (it must exit 0)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from switchyard.tui.cli import main; main()",
         *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines}


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_imports_no_engine(sy) -> None:
    modules = imported(sy.env, "--help")
    assert "typer" in modules  # the check sees imports at all
    assert not (HEAVY | ENGINE) & (modules | tops(modules))


@pytest.mark.parametrize(
    "args",
    [("lane", "list"), ("instances", "--json", "--limit", "100"), ("schedule", "next", "n")],
)
def test_read_commands_import_no_migrations_templates_or_ui(sy, args: tuple[str, ...]) -> None:
    sy.cli("schedule", "add", "n", "--cron", "0 2 * * *", "--", "true")
    modules = imported(sy.env, *args)
    assert "switchyard.engine.reads" in modules  # the light read path answered
    assert not HEAVY & tops(modules), sorted(HEAVY & tops(modules))
    # ... without the facade, the SQLModel tables or pydantic (typer's adapters included)
    light = {"switchyard.engine.api", "switchyard.store.models", "sqlmodel", "pydantic"}
    assert not light & modules, sorted(light & modules)


def test_a_call_builds_only_the_command_it_names() -> None:
    """typer builds every command's options from its signature: a call builds one."""
    from switchyard.tui.cli.registry import app_for, cli

    lane = app_for(["--db", "x.db", "lane", "list"])
    assert [g.name for g in lane.registered_groups] == ["lane"]
    assert lane.registered_commands == []
    start = app_for(["start", "p", "--vars-file", "-"])
    assert [c.callback.__name__ for c in start.registered_commands if c.callback] == ["start"]
    for whole in (["--help"], [], ["lane", "--help"], ["nosuch"], ["--", "lane"]):
        assert app_for(whole) is cli
    assert len(cli.registered_commands) > 10  # the full app is left whole
