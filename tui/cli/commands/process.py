"""Command-line verbs for processes: validate, publish, list, show; instance show;
retry and skip. Merged into the root app by tui/cli/registry.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.monitor import FilterOption, bulk
from switchyard.tui.cli.root import JsonOption, emit_json, parse_pairs, run

if TYPE_CHECKING:
    from switchyard.engine.definitions import DefinitionError

area = typer.Typer()  # merged into the root app by tui/cli/registry.py

process_app = typer.Typer(help="Processes: YAML definitions, validated and versioned.")
instance_app = typer.Typer(help="One instance: its state, variables, steps and history.")
area.add_typer(process_app, name="process")
area.add_typer(instance_app, name="instance")

FilesArg = Annotated[list[Path], typer.Argument(help="Definition files (YAML).")]


def _report(exc: DefinitionError) -> None:
    errors = [i for i in exc.issues if i.severity == "error"]
    for issue in exc.issues:
        typer.echo(str(issue), err=True)
    files = len({i.file for i in errors})
    typer.echo(f"{len(errors)} error(s) in {files} file(s); nothing published", err=True)
    raise typer.Exit(2)  # bad input, like every refusal


@process_app.command("validate")
def process_validate(files: FilesArg) -> None:
    """Check definitions without publishing; exit 2 and list every error on any error."""
    from switchyard.engine.definitions import DefinitionError

    try:
        definitions = run(lambda e: e.validate_files(files))
    except DefinitionError as exc:
        _report(exc)
        return
    for d in definitions:
        for warning in d.warnings:
            typer.echo(str(warning), err=True)
        typer.echo(f"ok: {d.filename}: process {d.name}")


@process_app.command("publish")
def process_publish(files: FilesArg) -> None:
    """Publish definitions: a changed one becomes a new version; all files or none."""
    from switchyard.engine.definitions import DefinitionError

    try:
        results = run(lambda e: e.publish(files))
    except DefinitionError as exc:
        _report(exc)
        return
    for r in results:
        for warning in r.warnings:
            typer.echo(warning, err=True)
        what = f"published version {r.version}" if r.changed else f"unchanged (version {r.version})"
        typer.echo(f"{r.name}: {what}")


@process_app.command("list")
def process_list(as_json: JsonOption = False) -> None:
    """Published processes, newest version of each."""
    views = run(lambda e: e.processes())
    if as_json:
        return emit_json(views)
    rows = [
        [
            v.name,
            str(v.version),
            str(v.versions),
            fmt.when(v.published_at),
            v.published_by or "-",
            v.description or "",
        ]
        for v in views
    ]
    typer.echo(
        fmt.table(["PROCESS", "VERSION", "VERSIONS", "PUBLISHED", "BY", "DESCRIPTION"], rows)
    )


@process_app.command("show")
def process_show(
    name: str,
    version: Annotated[int | None, typer.Option(help="This version (default: newest).")] = None,
    as_json: JsonOption = False,
) -> None:
    """A published definition: its source as published (or --json with the parsed form)."""
    detail = run(lambda e: e.process(name, version))
    if as_json:
        return emit_json(detail)
    typer.echo(
        f"# {detail.name} version {detail.version}, published {fmt.when(detail.published_at)}"
        f" by {detail.published_by or '-'}"
    )
    typer.echo(detail.source.rstrip("\n"))


@instance_app.command("show")
def instance_show(instance_id: int, as_json: JsonOption = False) -> None:
    """Status, state, variables, what it waits on, call stack, steps and history."""
    detail = run(lambda e: e.instance_detail(instance_id))
    if as_json:
        return emit_json(detail)
    v = detail.instance
    lines = [
        f"instance {v.id}: {v.status}" + (f" ({v.reason})" if v.reason else ""),
        f"process:   {v.process or '-'}" + (f" v{detail.version}" if detail.version else ""),
        f"schedule:  {v.schedule or '-'}",
        f"lane:      {v.lane}",
        f"state:     {v.current_state or '-'}",
        f"action:    {v.current_action or '-'}",
        f"waiting:   {detail.waiting_on or '-'}"
        + (f" until {fmt.when(detail.wake_at)}" if detail.wake_at else ""),
        f"outcome:   {detail.outcome or '-'}",
    ]
    if detail.error_step:
        lines.append(f"failed at: {detail.error_step}")
    if detail.parent_id:
        lines.append(f"parent:    {detail.parent_id}")
    if detail.children:
        lines.append(f"children:  {', '.join(map(str, detail.children))}")
    if detail.call_stack:
        lines.append("call stack:")
        lines.extend(f"  {frame}" for frame in detail.call_stack)
    lines.append("variables:")
    lines.extend(f"  {k} = {val!r}" for k, val in sorted(detail.variables.items()))
    typer.echo("\n".join(lines))
    rows = [
        [
            s.status,
            s.kind,
            s.path,
            fmt.when(s.started_at),
            fmt.when(s.ended_at),
            s.error or s.note or "",
        ]
        for s in detail.steps
    ]
    typer.echo("steps:")
    typer.echo(fmt.table(["STATUS", "ACTION", "WHERE", "STARTED", "ENDED", "NOTE"], rows))
    typer.echo("history:")
    hist = [[fmt.when(h.at), h.kind, h.user or "-", _detail(h.detail)] for h in detail.history]
    typer.echo(fmt.table(["AT", "WHAT", "WHO", "DETAIL"], hist))


def _detail(detail: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, [], ""))


@area.command()
def retry(
    instance_ids: Annotated[
        list[int] | None, typer.Argument(help="Instances in error (or --filter).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="K=V: set a variable first (repeatable).")
    ] = None,
    filter_: Annotated[str | None, FilterOption] = None,
) -> None:
    """Run the failed step of instances in error again (after setting variables)."""
    values = parse_pairs(set_ or [], "set")
    bulk("retry", instance_ids or [], filter_, {}, lambda e, i: e.retry(i, values))


@area.command()
def skip(
    instance_ids: Annotated[
        list[int] | None, typer.Argument(help="Instances in error (or --filter).")
    ] = None,
    filter_: Annotated[str | None, FilterOption] = None,
) -> None:
    """Mark the failed step done without running it, and go on."""
    bulk("skip", instance_ids or [], filter_, {}, lambda e, i: e.skip(i))
