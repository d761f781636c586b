"""The ``switchyard`` console script: umask, env file and SSH forced command first
(tui/cli/access.py), then the registered app (tui/cli/registry.py)."""

from __future__ import annotations

import os
import sys

import typer
from switchyard.engine.errors import StoreUnavailable
from switchyard.engine.paths import private_umask
from switchyard.tui.cli.access import AccessError, forced_argv, load_env_file
from switchyard.tui.cli.registry import app_for, cli


def main() -> None:
    private_umask()  # every file this process makes is 0600, every folder 0700
    try:
        load_env_file(os.environ)
        argv = forced_argv(
            sys.argv[1:],
            os.environ,
            lambda: typer.main.get_command(cli).commands,  # type: ignore[attr-defined]
        )
    except (AccessError, StoreUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None
    app_for(argv)(args=argv)
