"""Command-line verbs ``switchyard export DIR`` and ``switchyard import DIR`` (the store's
configuration as one YAML file per object, for git). Merged into the root app by
tui/cli/registry.py. Both need the admin right (refused: exit 4, naming it); a missing
folder is exit 3; a malformed file is exit 2 naming the file and field, nothing applied."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.root import JsonOption, emit_json, run

area = typer.Typer()  # merged into the root app by tui/cli/registry.py

DirArgument = Annotated[Path, typer.Argument(help="The folder (one YAML file per object).")]


@area.command("export")
def export_cmd(
    directory: DirArgument,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Every version of each process (NAME@N.yaml).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write lanes, schedules, processes, people, groups, rights, security specs, server
    parameters and saved filters into DIR as YAML (admins; secrets by name only)."""
    result = run(lambda e: e.export_store(directory, all_versions=all_versions))
    if as_json:
        return emit_json(result)
    typer.echo(f"exported {result.files} files to {result.directory}")


@area.command("import")
def import_cmd(
    directory: DirArgument,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the changes only.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove what DIR does not have (see README).")
    ] = False,
    show_unchanged: Annotated[
        bool, typer.Option("--unchanged", help="List unchanged objects too.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Apply DIR (an export) to the store, all or nothing, in one transaction (admins)."""
    from switchyard.engine.definitions import DefinitionError

    try:
        result = run(lambda e: e.import_store(directory, dry_run=dry_run, prune=prune))
    except DefinitionError as exc:  # every issue, as file:line:col: path: message
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        typer.echo("error: processes: a definition is invalid; nothing imported", err=True)
        raise typer.Exit(2) from None
    if as_json:
        return emit_json(result)
    rows = [
        [c.change.value, c.path]
        for c in result.changes
        if show_unchanged or c.change != "unchanged"
    ]
    if rows:
        typer.echo(fmt.table(["CHANGE", "FILE"], rows))
    counts = {
        k: sum(1 for c in result.changes if c.change == k)
        for k in ("added", "changed", "unchanged", "removed")
    }
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    verb = "would apply" if not result.applied else "applied"
    typer.echo(f"{verb}: {summary}")
