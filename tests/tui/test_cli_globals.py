"""Global options after the command words (tui/cli/globals.py): moved in front of them
before click parses, aware of the command's own options that take a value."""

from __future__ import annotations

import pytest
import typer.main
from switchyard.tui.cli.globals import hoist_globals
from switchyard.tui.cli.registry import cli

ROOT = typer.main.get_command(cli)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["lane", "list", "--db", "x.db"], ["--db", "x.db", "lane", "list"]),
        (["lane", "list", "--db=x.db", "--json"], ["--db=x.db", "lane", "list", "--json"]),
        (["--db", "a", "lane", "list", "--db", "b"], ["--db", "a", "--db", "b", "lane", "list"]),
        (["lane", "list", "--as", "ann", "--allow-shared-mode"],
         ["--as", "ann", "--allow-shared-mode", "lane", "list"]),
        # the value of the command's own option stays its value
        (["schedule", "add", "s", "--cwd", "--db", "--", "true"],
         ["schedule", "add", "s", "--cwd", "--db", "--", "true"]),
        # after --: the command's arguments, untouched
        (["schedule", "add", "s", "--on-demand", "--", "run", "--db", "x"],
         ["schedule", "add", "s", "--on-demand", "--", "run", "--db", "x"]),
        # --ssh-user belongs in front (a forced command): never moved
        (["lane", "list", "--ssh-user", "bob"], ["lane", "list", "--ssh-user", "bob"]),
        (["lane"], ["lane"]),
        (["nosuch", "--db", "x"], ["nosuch", "--db", "x"]),
    ],
)  # fmt: skip
def test_hoist(argv: list[str], expected: list[str]) -> None:
    assert hoist_globals(argv, ROOT) == expected
