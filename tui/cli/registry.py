"""The command registry: every command area of the command line, in the order ``--help``
lists them, merged into the root app (tui/cli/root.py) once, here. A new area is one
import and one entry in ``AREAS``; nothing registers itself by being imported.

``app_for(argv)`` is what the console script runs: the root app with only the command or
group that ``argv`` names, so that typer builds (signatures, type hints, options) one
command instead of every one of them (~0.2 s of each call, issue 14). ``--help``, no
command, or a word that names none gets the whole app (help and "No such command")."""

from __future__ import annotations

import copy

import typer
from switchyard.tui.cli.commands import (
    exchange,
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
from typer.main import get_command_name

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
    exchange.area,
)


def build(root: typer.Typer, areas: tuple[typer.Typer, ...] = AREAS) -> typer.Typer:
    """``root`` with the commands and groups of ``areas`` added (in order)."""
    for area in areas:
        root.registered_commands.extend(area.registered_commands)
        root.registered_groups.extend(area.registered_groups)
    return root


cli = build(app)


def _name(info: typer.models.CommandInfo | typer.models.TyperInfo) -> str | None:
    if isinstance(info, typer.models.CommandInfo):
        if info.name:
            return info.name
        return get_command_name(info.callback.__name__) if info.callback else None
    name = info.name
    return name if isinstance(name, str) else None


def app_for(argv: list[str], root: typer.Typer = cli) -> typer.Typer:
    """``root`` narrowed to the command ``argv`` names (after the global options)."""
    from switchyard.tui.cli.access import split_globals

    _, rest = split_globals(argv)
    if not rest or rest[0].startswith("-") or "--help" in argv:
        return root
    commands = [c for c in root.registered_commands if _name(c) == rest[0]]
    groups = [g for g in root.registered_groups if _name(g) == rest[0]]
    if len(commands) + len(groups) != 1:
        return root
    narrowed = copy.copy(root)
    narrowed.registered_commands = commands
    narrowed.registered_groups = groups
    return narrowed
