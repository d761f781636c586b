"""Lanes, schedules and secrets: ``lane``, ``schedule``, ``secret``."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.root import JsonOption, emit_json, fail, read, run

if TYPE_CHECKING:
    from switchyard.engine.api import Engine
    from switchyard.engine.views import LaneView

area = typer.Typer()  # merged into the root app by tui/cli/registry.py
lane_app = typer.Typer(help="Lanes: named execution slots (concurrency 1 = serialised).")
area.add_typer(lane_app, name="lane")
schedule_app = typer.Typer(help="Schedules: when to run what, on which lane.")
area.add_typer(schedule_app, name="schedule")
secret_app = typer.Typer(help="Secrets: encrypted values for commands' environments.")
area.add_typer(secret_app, name="secret")


# ------------------------------------------------------------------ lanes
@lane_app.command("add")
def lane_add(
    name: str,
    concurrency: Annotated[int, typer.Option(help="Runs at once on this lane.")] = 1,
) -> None:
    """Add a lane."""
    run(lambda e: e.add_lane(name, concurrency))
    typer.echo(f"lane {name} (concurrency {concurrency})")


@lane_app.command("set")
def lane_set(
    name: str,
    concurrency: Annotated[int, typer.Option(help="Runs at once on this lane.")],
    as_json: JsonOption = False,
) -> None:
    """Change a lane's concurrency. Running nodes apply it at once: a higher limit starts
    queued work; a lower one lets running work finish and starts nothing new until the lane
    is under it."""

    async def change(e: Engine) -> tuple[int | None, LaneView]:
        before = {ln.name: ln.concurrency for ln in await e.lanes()}
        await e.set_lane_concurrency(name, concurrency)
        after = next(ln for ln in await e.lanes() if ln.name == name)
        return before.get(name), after

    was, lane = run(change)
    if as_json:
        return emit_json(lane)
    typer.echo(f"lane {name} (concurrency {lane.concurrency}, was {was})")


@lane_app.command("list")
def lane_list(as_json: JsonOption = False) -> None:
    """List lanes with their running and queued counts."""
    lanes = read(lambda r: r.lanes(), lambda e: e.lanes())
    if as_json:
        return emit_json(lanes)
    rows = [[ln.name, str(ln.concurrency), str(ln.running), str(ln.queued)] for ln in lanes]
    typer.echo(fmt.table(["LANE", "CONCURRENCY", "RUNNING", "QUEUED"], rows))


# -------------------------------------------------------------- schedules
def _is_dir(path: str) -> bool:
    try:
        return bool(path) and Path(path).is_dir()
    except (OSError, ValueError):  # a NUL byte, a name too long
        return False


@schedule_app.command("add")
def schedule_add(
    name: str,
    command: Annotated[
        list[str] | None, typer.Argument(help="After --: the command and its arguments.")
    ] = None,
    cron: Annotated[
        str | None, typer.Option(help="Cron expression (5 fields, 6th = seconds).")
    ] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone for --cron/--at/--window.")] = "UTC",
    every: Annotated[str | None, typer.Option(help="Interval: 30s, 5m, 2h, 1d.")] = None,
    at: Annotated[str | None, typer.Option(help="Once, at this ISO time.")] = None,
    on_demand: Annotated[bool, typer.Option("--on-demand", help="Only when started.")] = False,
    continuous: Annotated[bool, typer.Option("--continuous", help="Keep one running.")] = False,
    window: Annotated[str | None, typer.Option(help="With --continuous: HH:MM-HH:MM.")] = None,
    lane: Annotated[str, typer.Option(help="Lane to run on.")] = "default",
    overlap: Annotated[str, typer.Option(help="queue | skip | parallel:N")] = "queue",
    misfire: Annotated[str, typer.Option(help="once | each[:N] | skip")] = "once",
    after: Annotated[str | None, typer.Option(help="Start after this schedule succeeds.")] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="K=V, K=secret:KEY or K=secretfile:KEY.")
    ] = None,
    cwd: Annotated[str | None, typer.Option(help="Working directory.")] = None,
    timeout: Annotated[str | None, typer.Option(help="Kill after this long (e.g. 5m).")] = None,
    shell: Annotated[
        bool, typer.Option("--shell", help="Run the command with /bin/sh -c.")
    ] = False,
    process: Annotated[
        str | None, typer.Option(help="Start this published process (instead of a command).")
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="K=V: a variable of --process.")
    ] = None,
    allow_past: Annotated[
        bool,
        typer.Option("--allow-past", help="With --at: add it even when that time has passed."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a schedule: switchyard schedule add NAME --cron '0 2 * * *' -- COMMAND [ARGS...]
    (or --process NAME [--var K=V ...] instead of a command)."""
    if cwd is not None and not _is_dir(cwd):
        fail(f"cwd: '{cwd}' is not a directory")
    from switchyard.engine.schedules.spec import ScheduleSpec

    spec = ScheduleSpec(
        name=name,
        command=list(command or []),
        cron=cron,
        tz=tz,
        every=every,
        at=at,
        on_demand=on_demand,
        continuous=continuous,
        window=window,
        lane=lane,
        overlap=overlap,
        misfire=misfire,
        after=after,
        env=list(env or []),
        cwd=cwd,
        timeout=timeout,
        shell=shell,
        process=process,
        variables=list(var or []),
        allow_past=allow_past,
    )
    view = run(lambda e: e.add_schedule(spec))
    if as_json:
        return emit_json(view)
    after = f", after {view.after}" if view.after else ""
    typer.echo(
        f"schedule {view.name}: {view.trigger}{after}; next {fmt.when_zoned(view.next_fire_at)}"
    )


@schedule_app.command("list")
def schedule_list(as_json: JsonOption = False) -> None:
    """List schedules with their next fire and last result."""
    views = run(lambda e: e.schedules())
    if as_json:
        return emit_json(views)
    rows = [
        [
            v.name,
            f"{v.trigger}, after {v.after}" if v.after else v.trigger,
            v.lane,
            "paused" if v.paused else fmt.when_zoned(v.next_fire_at),
            v.last_result or "-",
        ]
        for v in views
    ]
    typer.echo(fmt.table(["NAME", "TRIGGER", "LANE", "NEXT", "LAST"], rows))


@schedule_app.command("next")
def schedule_next(
    name: str,
    count: Annotated[int, typer.Option(help="How many fires.")] = 10,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", help="Start from this ISO time (without an offset: the schedule's zone)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the next fire times (local and UTC), marking DST shifts."""
    start = None
    if from_:
        try:
            start = datetime.fromisoformat(from_)
        except ValueError:
            fail(f"from: '{from_}' is not an ISO date/time (e.g. 2026-03-29T00:00+00:00)")
    fires = read(
        lambda r: r.next_fires(name, count, start), lambda e: e.next_fires(name, count, start)
    )
    if as_json:
        return emit_json(fires)
    for f in fires:
        note = f"  ({f.note})" if f.note else ""
        typer.echo(f"{f.local:%Y-%m-%d %H:%M:%S %Z}  = {f.at:%Y-%m-%d %H:%M:%S}Z{note}")


def _set_paused(name: str, paused: bool) -> None:
    view = run(lambda e: e.set_paused(name, paused))
    typer.echo(f"schedule {view.name} {'paused' if paused else 'resumed'}")


@schedule_app.command("pause")
def schedule_pause(name: str) -> None:
    """Pause a schedule (no fires until resumed)."""
    _set_paused(name, True)


@schedule_app.command("resume")
def schedule_resume(name: str) -> None:
    """Resume a paused schedule (fires skipped while paused are not caught up)."""
    _set_paused(name, False)


@schedule_app.command("remove")
def schedule_remove(name: str) -> None:
    """Remove a schedule (its past instances stay)."""
    run(lambda e: e.remove_schedule(name))
    typer.echo(f"schedule {name} removed")


# ---------------------------------------------------------------- secrets
@secret_app.command("set")
def secret_set(key: str) -> None:
    """Set a secret; the value is read from standard input (never from the command line)."""
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"value for {key}: ")
    else:
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        try:
            value = (raw.decode("utf-8") if isinstance(raw, bytes) else raw).rstrip("\n")
        except UnicodeDecodeError as exc:
            fail(f"value: not UTF-8 text (byte {exc.start})")
    run(lambda e: e.set_secret(key, value))
    typer.echo(f"secret {key} set")


@secret_app.command("list")
def secret_list(as_json: JsonOption = False) -> None:
    """List secret names (never values)."""
    views = run(lambda e: e.secrets())
    if as_json:
        return emit_json(views)
    typer.echo(fmt.table(["KEY", "UPDATED"], [[s.key, fmt.when(s.updated_at)] for s in views]))
