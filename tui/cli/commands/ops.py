"""Command-line verbs for operations: ``switchyard param list|set`` (server parameters)
and ``switchyard events`` (the event log). Merged into the root app by tui/cli/registry.py.

Setting a parameter needs the admin right (refused: exit 4, naming it); a bad value is
named with the rule it breaks and changes nothing (exit 2). Reading the event log needs
the monitor licence or the admin right."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.root import JsonOption, emit_json, fail, run

area = typer.Typer()  # merged into the root app by tui/cli/registry.py

param_app = typer.Typer(help="Server parameters: stored, validated, live on every node.")
area.add_typer(param_app, name="param")

TIME_HELP = "ISO time (2026-11-24T08:00, local unless it has an offset) or an age: 30m, 1h, 2d."


def parse_time(text: str, field: str, now: datetime | None = None) -> datetime:
    """An ISO time (naive = local time) or a relative age ("1h", "2d": that long ago)."""
    from switchyard.engine.schedules.triggers import TriggerError, parse_duration

    raw = text.strip()
    try:
        at = datetime.fromisoformat(raw)
        return at if at.tzinfo is not None else at.astimezone()
    except (ValueError, OverflowError):
        pass
    try:
        age = parse_duration(raw, field)
    except TriggerError as exc:
        if "too long" in exc.message:
            fail(str(exc))
        shown = text if len(text) <= 40 else text[:40] + "..."
        fail(f"{field}: '{shown}' is neither an ISO time nor an age like 30m, 1h or 2d")
        raise AssertionError("unreachable") from None
    return (now or datetime.now(UTC)) - age


# ------------------------------------------------------------- parameters
@param_app.command("list")
def param_list(as_json: JsonOption = False) -> None:
    """Every server parameter: value, default, rule and when it was last set."""
    from switchyard.engine.ops.api import show_value

    views = run(lambda e: e.params())
    if as_json:
        return emit_json(views)
    rows = [
        [
            v.name,
            show_value(v.name, v.value),
            show_value(v.name, v.default),
            fmt.when(v.updated_at),
            v.rule,
        ]
        for v in views
    ]
    typer.echo(fmt.table(["NAME", "VALUE", "DEFAULT", "SET AT", "RULE"], rows))


@param_app.command("set")
def param_set(
    name: Annotated[str, typer.Argument(help="The parameter (see: switchyard param list).")],
    value: Annotated[str, typer.Argument(help="true/false, a number, or seconds: 30s, 5m.")],
) -> None:
    """Change a server parameter (admins); running nodes take it without a restart."""
    from switchyard.engine.ops.api import show_value

    view = run(lambda e: e.set_param(name, value))
    typer.echo(f"{view.name} = {show_value(view.name, view.value)}")


# -------------------------------------------------------------- event log
@area.command()
def events(
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only this kind, or family: node, param.changed (repeatable)."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this time on. " + TIME_HELP)] = None,
    until: Annotated[str | None, typer.Option(help="Before this time. " + TIME_HELP)] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """The event log: node start/stop, restores, ownership changes, parameter and secret
    changes, refusals, cancelled monitor filters; newest first."""
    start = parse_time(since, "since") if since else None
    end = parse_time(until, "until") if until else None
    views = run(lambda e: e.event_log(kind, since=start, until=end, limit=limit))
    if as_json:
        return emit_json(views)
    rows = [[fmt.when(v.at), v.kind, v.node_id or "-", v.login or "-", v.message] for v in views]
    typer.echo(fmt.table(["AT", "KIND", "NODE", "LOGIN", "MESSAGE"], rows))
