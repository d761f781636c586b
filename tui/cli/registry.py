"""The command registry: every command area of the command line, in the order ``--help``
lists them, merged into the root app (tui/cli/root.py) once, here. A new area is one
import and one entry in ``AREAS``; nothing registers itself by being imported."""

from __future__ import annotations

import typer
from switchyard.tui.cli.commands import (
    migrate,
    nodes,
    ops,
    people,
    process,
    runs,
    schedules,
    timers,
    workitems,
)
from switchyard.tui.cli.root import app

#: the areas, in help order (top-level commands first, then groups, each in this order)
AREAS: tuple[typer.Typer, ...] = (
    nodes.area,
    schedules.area,
    runs.area,
    ops.area,
    people.area,
    process.area,
    timers.area,
    workitems.area,
    migrate.area,
)


def build(root: typer.Typer, areas: tuple[typer.Typer, ...] = AREAS) -> typer.Typer:
    """``root`` with the commands and groups of ``areas`` added (in order)."""
    for area in areas:
        root.registered_commands.extend(area.registered_commands)
        root.registered_groups.extend(area.registered_groups)
    return root


cli = build(app)
