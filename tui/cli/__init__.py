"""The ``switchyard`` command line (the console script ``switchyard.tui.cli:main``).

Layout, each layer importing only the ones below it (import-linter contracts in
pyproject.toml):

- ``main``: the entry point (access checks, then the app);
- ``registry``: the explicit list of command areas, merged into the root app;
- ``commands/``: one module per area (nodes, schedules, runs, ops, people, process,
  timers, workitems), independent of each other;
- ``monitor``: instance filters and bulk operations shared by ``instances`` and
  ``process``/``retry``/``skip``;
- ``root``: the root typer app, global options and shared helpers (run, fail, emit_json);
- ``errors``: the error funnel; ``access``: env file, sudo and SSH forced commands.
"""

from __future__ import annotations

from switchyard.tui.cli.main import main
from switchyard.tui.cli.registry import cli as app

__all__ = ["app", "main"]
