"""Instances from the command line: start, instances, log, cancel."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from switchyard.engine.errors import NotFound, SwitchyardError
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.monitor import bulk, monitored
from switchyard.tui.cli.root import JsonOption, emit_json, fail, parse_pairs, read, run

if TYPE_CHECKING:
    from switchyard.engine.api import Engine

area = typer.Typer()  # merged into the root app by tui/cli/registry.py


# -------------------------------------------------------------- instances
@area.command()
def start(
    name: Annotated[str, typer.Argument(help="A published process or a schedule.")],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="K=V: a process variable (repeatable).")
    ] = None,
    lane: Annotated[str | None, typer.Option(help="Run on this lane (processes).")] = None,
    version: Annotated[int | None, typer.Option(help="This version of the process.")] = None,
    vars_file: Annotated[
        str | None,
        typer.Option(
            "--vars-file",
            help="Start one instance per line: a JSON object of variables each ('-': stdin). "
            "All or none; --var values apply to every line (the line's own win).",
        ),
    ] = None,
) -> None:
    """Start a process (or run a schedule now); prints the instance id (one per line with
    --vars-file).

    NAME is looked up as a published process first, then as a schedule."""

    variables = parse_pairs(var or [], "var")
    if vars_file is not None:
        _start_batch(name, vars_file, variables, lane, version)
        return

    async def go(engine: Engine) -> int:
        names = {p.name for p in await engine.processes()}
        if name in names:
            return await engine.start_process(name, variables, lane=lane, version=version)
        if variables or lane or version is not None:
            raise NotFound("process", f"unknown process '{name}'")
        return await engine.start(name)

    typer.echo(str(run(go)))


MAX_VARS_FILE = 256 * 1024 * 1024  # characters: a batch is held in memory, all or nothing


def _read_rows(source: str) -> tuple[list[dict[str, object]], list[int]]:
    """The JSON objects of a vars file, one a line (blank lines skipped), and each one's
    line number; a line that is not one is refused as ``FILE:LINE: what is wrong``."""
    import json

    try:
        if source == "-":
            text = sys.stdin.read(MAX_VARS_FILE + 1)
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read(MAX_VARS_FILE + 1)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
        shown = source if len(source) <= 200 else source[:200] + "..."
        fail(f"vars-file: cannot read {shown!r}: {getattr(exc, 'strerror', None) or exc}")
    if len(text) > MAX_VARS_FILE:
        fail(f"vars-file: {source} is over {MAX_VARS_FILE:,} characters; split it")
    rows: list[dict[str, object]] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            fail(f"{source}:{number}: not JSON: {exc.args[0] if exc.args else exc}")
        if not isinstance(value, dict):
            fail(f"{source}:{number}: expected a JSON object of variables")
        rows.append(value)
        lines.append(number)
    if not rows:
        fail(f"vars-file: {source} holds no rows")
    return rows, lines


def _start_batch(
    name: str, source: str, common: dict[str, str], lane: str | None, version: int | None
) -> None:
    """``start NAME --vars-file FILE``: every line's instance, or none."""
    from switchyard.engine.process.starts import RowRefused

    rows, lines = _read_rows(source)
    if common:
        rows = [{**common, **row} for row in rows]

    async def go(engine: Engine) -> list[int]:
        try:
            return await engine.start_many(name, rows, lane=lane, version=version)
        except RowRefused as exc:  # the engine names the row; the person needs the line
            raise SwitchyardError(f"{source}:{lines[exc.index]}", exc.problem) from None

    ids = run(go)
    typer.echo("\n".join(str(i) for i in ids))


@area.command()
def instances(
    status: Annotated[str | None, typer.Option(help="Status, or several: queued,running")] = None,
    schedule: Annotated[str | None, typer.Option(help="Only this schedule.")] = None,
    lane: Annotated[str | None, typer.Option(help="Only this lane.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: JsonOption = False,
    process: Annotated[
        list[str] | None, typer.Option("--process", help="Process instances of NAME.")
    ] = None,
    state: Annotated[str | None, typer.Option(help="In this state.")] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="'amount>1000', 'employee=Ann', 'x exists'.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Updated since: ISO time or 2h, 1d.")] = None,
    until: Annotated[str | None, typer.Option(help="Updated before: ISO time or 2h, 1d.")] = None,
    waiting_on: Annotated[
        str | None, typer.Option("--waiting-on", help="work item | timer | child | condition")
    ] = None,
    originator: Annotated[str | None, typer.Option(help="Started by this user.")] = None,
    filter_: Annotated[
        str | None, typer.Option("--filter", help="A saved filter's name, or 'process=x; a>1'.")
    ] = None,
) -> None:
    """List instances, newest first. Process filters (--process, --state, --var, --since,
    --until, --waiting-on, --originator, --filter) go through the monitor: only what you
    may view, secured variables ****, and refused over max_monitored_flows."""
    if any([process, state, var, since, until, waiting_on, originator, filter_]):
        return monitored(
            filter_,
            dict(
                process=process,
                status=status,
                state=state,
                var=var,
                since=since,
                until=until,
                waiting_on=waiting_on,
                originator=originator,
                lane=lane,
            ),
            limit,
            as_json,
        )
    views = read(
        lambda r: r.instances(status=status, schedule=schedule, lane=lane, limit=limit),
        lambda e: e.instances(status=status, schedule=schedule, lane=lane, limit=limit),
    )
    if as_json:
        return emit_json(views)
    rows = [
        [
            str(v.id),
            v.schedule or "-",
            v.lane,
            v.status,
            fmt.when(v.queued_at),
            fmt.when(v.started_at),
            fmt.when(v.ended_at),
            "-" if v.exit_code is None else str(v.exit_code),
            v.reason or "",
        ]
        for v in views
    ]
    headers = ["ID", "SCHEDULE", "LANE", "STATUS", "QUEUED", "STARTED", "ENDED", "EXIT", "REASON"]
    typer.echo(fmt.table(headers, rows))


@area.command()
def log(instance_id: int, follow: Annotated[bool, typer.Option("--follow", "-f")] = False) -> None:
    """Print an instance's log; --follow keeps printing until it ends."""

    async def show(engine: Engine) -> None:
        if not follow:
            for line in await engine.log(instance_id):
                typer.echo(line)
            return
        async for lines in engine.follow_log(instance_id):
            for line in lines:
                typer.echo(line)
            sys.stdout.flush()

    try:
        run(show)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@area.command()
def cancel(
    instance_ids: Annotated[
        list[int] | None, typer.Argument(help="Instances (or --filter).")
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option("--filter", help="Cancel every instance this filter matches."),
    ] = None,
) -> None:
    """Cancel queued, running or waiting instances (kills their process groups)."""
    if filter_ is not None or len(instance_ids or []) != 1:
        return bulk("cancel", instance_ids or [], filter_, {}, lambda e, i: e.cancel(i))
    instance_id = (instance_ids or [0])[0]
    view = run(lambda e: e.cancel(instance_id))
    typer.echo(
        f"instance {view.id}: {view.status}"
        + ("" if view.status == "cancelled" else " (cancel requested)")
    )
