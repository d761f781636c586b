"""The `switchyard` command line: the same engine API the console uses.

Every refused operation prints one line, ``error: FIELD: what is wrong``, to stderr and
exits with a documented code (tui/cli_errors.py: 2 bad input, 3 unknown, 4 refused,
5 store unreachable); nothing is written. Listing commands take ``--json``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from switchyard.engine.api import Engine
from switchyard.engine.errors import NotFound, SwitchyardError
from switchyard.engine.people.api import LOGIN
from switchyard.engine.schedule_spec import ScheduleSpec
from switchyard.engine.views import to_json
from switchyard.store.db import StoreError, check_url
from switchyard.store.filemodes import SharedModeError
from switchyard.tui import formatting as fmt
from switchyard.tui.cli_errors import SwitchyardGroup, emit

app = typer.Typer(
    cls=SwitchyardGroup,  # the error funnel: one line and an exit code, never a traceback
    help="Switchyard: schedules, lanes, live runs and logs, from the terminal.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)
lane_app = typer.Typer(help="Lanes: named execution slots (concurrency 1 = serialised).")
schedule_app = typer.Typer(help="Schedules: when to run what, on which lane.")
secret_app = typer.Typer(help="Secrets: encrypted values for commands' environments.")
app.add_typer(lane_app, name="lane")
app.add_typer(schedule_app, name="schedule")
app.add_typer(secret_app, name="secret")

T = TypeVar("T")
DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="SWITCHYARD_DB", help="Store URL or SQLite path."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Act as this Switchyard user (admins only; audited)."),
]
SharedOption = Annotated[
    bool,
    typer.Option(
        "--allow-shared-mode",
        help="Open a store, data dir or key that group or others may read or write.",
    ),
]
SshUserOption = Annotated[
    str | None,
    typer.Option(
        "--ssh-user",
        help="For an SSH key's forced command in the store owner's authorized_keys: "
        "the person the key belongs to (honoured only for the store's owner, under sshd).",
    ),
]


class State:
    db: str | None = None
    as_user: str | None = None
    allow_shared_mode: bool = False
    ssh_user: str | None = None

    def open_options(self, *, create: bool) -> dict[str, Any]:
        """Engine.open's options from the global ones; ``create``: make a missing store."""
        return {
            "as_user": self.as_user,
            "create": create,
            "allow_shared_mode": self.allow_shared_mode,
            "ssh_user": self.ssh_user,
        }


state = State()


def fail(message: str, code: int = 2) -> None:
    emit(message)
    raise typer.Exit(code)


def run(fn: Callable[[Engine], Awaitable[T]], *, db: str | None = None, create: bool = False) -> T:
    """Open the store (made only when ``create``: console, serve, demo, init), run ``fn``."""

    async def main() -> T:
        engine = await Engine.open(db or state.db, **state.open_options(create=create))
        try:
            return await fn(engine)
        finally:
            await engine.close()

    try:
        return asyncio.run(main())
    except (SwitchyardError, StoreError, SharedModeError) as exc:
        fail(str(exc), exc.exit_code)
    raise AssertionError("unreachable")


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(to_json(value), indent=2))


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    db: DbOption = None,
    as_user: AsOption = None,
    allow_shared_mode: SharedOption = False,
    ssh_user: SshUserOption = None,
) -> None:
    """Without a command: open the console."""
    if db is not None:
        check_url(db)  # one line naming `db` for an empty, huge or foreign value
    if as_user is not None and not LOGIN.match(as_user):
        fail("as: not a login (letters, digits, _ . @ -; at most 100 characters)")
    state.db = db
    state.as_user = as_user
    state.allow_shared_mode = allow_shared_mode
    state.ssh_user = ssh_user
    if ctx.invoked_subcommand is None:
        from switchyard.tui.app import run_console

        # errors: the funnel (tui/cli_errors.py)
        run_console(db, **state.open_options(create=True))


@app.command()
def init() -> None:
    """Create the store (or migrate it to this version); the first login becomes its admin.
    Other commands never create a store."""

    async def made(engine: Engine) -> str:
        return f"store ready: {engine.store.display_url} (data in {engine.data_dir})"

    typer.echo(run(made, create=True))


# ------------------------------------------------------------------ nodes
@app.command()
def serve(
    grace: Annotated[
        float, typer.Option(help="Seconds running commands get to finish on stop.")
    ] = 30.0,
) -> None:
    """Run a headless engine until SIGTERM/SIGINT."""
    from switchyard.tui.serve import serve_forever

    if not 0 <= grace <= 86_400:  # also NaN
        fail(f"grace: must be between 0 and 86400 seconds, got {grace}")
    # errors: the funnel (tui/cli_errors.py)
    asyncio.run(serve_forever(state.db, grace, **state.open_options(create=True)))


@app.command()
def demo(
    open_console: Annotated[
        bool, typer.Option("--open", help="Open the console afterwards.")
    ] = False,
) -> None:
    """Load demo lanes, schedules and runs (into a separate demo store unless --db is given)."""
    from switchyard.tui.demo import demo_url, load_demo

    db = state.db or demo_url()
    names = run(load_demo, db=db, create=True)
    typer.echo(f"demo data in {db}: {', '.join(names) if names else 'already loaded'}")
    if open_console:
        from switchyard.tui.app import run_console

        run_console(db, **state.open_options(create=True))


# ------------------------------------------------------------------ lanes
@lane_app.command("add")
def lane_add(
    name: str,
    concurrency: Annotated[int, typer.Option(help="Runs at once on this lane.")] = 1,
) -> None:
    """Add a lane."""
    run(lambda e: e.add_lane(name, concurrency))
    typer.echo(f"lane {name} (concurrency {concurrency})")


@lane_app.command("list")
def lane_list(as_json: JsonOption = False) -> None:
    """List lanes with their running and queued counts."""
    lanes = run(lambda e: e.lanes())
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
    as_json: JsonOption = False,
) -> None:
    """Add a schedule: switchyard schedule add NAME --cron '0 2 * * *' -- COMMAND [ARGS...]
    (or --process NAME [--var K=V ...] instead of a command)."""
    if cwd is not None and not _is_dir(cwd):
        fail(f"cwd: '{cwd}' is not a directory")
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
    )
    view = run(lambda e: e.add_schedule(spec))
    if as_json:
        return emit_json(view)
    typer.echo(f"schedule {view.name}: {view.trigger}; next {fmt.when(view.next_fire_at)}")


@schedule_app.command("list")
def schedule_list(as_json: JsonOption = False) -> None:
    """List schedules with their next fire and last result."""
    views = run(lambda e: e.schedules())
    if as_json:
        return emit_json(views)
    rows = [
        [
            v.name,
            v.trigger,
            v.lane,
            "paused" if v.paused else fmt.when(v.next_fire_at),
            v.last_result or "-",
        ]
        for v in views
    ]
    typer.echo(fmt.table(["NAME", "TRIGGER", "LANE", "NEXT", "LAST"], rows))


@schedule_app.command("next")
def schedule_next(
    name: str,
    count: Annotated[int, typer.Option(help="How many fires.")] = 10,
    from_: Annotated[str | None, typer.Option("--from", help="Start from this ISO time.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the next fire times (local and UTC), marking DST shifts."""
    start = None
    if from_:
        try:
            start = datetime.fromisoformat(from_)
        except ValueError:
            fail(f"from: '{from_}' is not an ISO date/time (e.g. 2026-03-29T00:00+00:00)")
        if start is not None and start.tzinfo is None:
            fail(f"from: '{from_}' has no UTC offset (add +00:00 or Z)")
    fires = run(lambda e: e.next_fires(name, count, start))
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


# -------------------------------------------------------------- instances
@app.command()
def start(
    name: Annotated[str, typer.Argument(help="A published process or a schedule.")],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="K=V: a process variable (repeatable).")
    ] = None,
    lane: Annotated[str | None, typer.Option(help="Run on this lane (processes).")] = None,
    version: Annotated[int | None, typer.Option(help="This version of the process.")] = None,
) -> None:
    """Start a process (or run a schedule now); prints the instance id.

    NAME is looked up as a published process first, then as a schedule."""
    from switchyard.tui.cli_process import parse_pairs

    variables = parse_pairs(var or [], "var")

    async def go(engine: Engine) -> int:
        names = {p.name for p in await engine.processes()}
        if name in names:
            return await engine.start_process(name, variables, lane=lane, version=version)
        if variables or lane or version is not None:
            raise NotFound("process", f"unknown process '{name}'")
        return await engine.start(name)

    typer.echo(str(run(go)))


@app.command()
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
        from switchyard.tui.cli_monitor import monitored

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
    views = run(lambda e: e.instances(status=status, schedule=schedule, lane=lane, limit=limit))
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


@app.command()
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


@app.command()
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
        from switchyard.tui.cli_monitor import bulk

        return bulk("cancel", instance_ids or [], filter_, {}, lambda e, i: e.cancel(i))
    instance_id = (instance_ids or [0])[0]
    view = run(lambda e: e.cancel(instance_id))
    typer.echo(
        f"instance {view.id}: {view.status}"
        + ("" if view.status == "cancelled" else " (cancel requested)")
    )


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


def main() -> None:
    import os

    from switchyard.store.filemodes import private_umask
    from switchyard.tui import (  # noqa: F401  (register)
        cli_ops,
        cli_people,
        cli_process,
        cli_timers,
        cli_workitems,
    )
    from switchyard.tui.cli_access import AccessError, forced_argv, load_env_file

    private_umask()  # every file this process makes is 0600, every folder 0700
    try:
        load_env_file(os.environ)
        argv = forced_argv(
            sys.argv[1:],
            os.environ,
            lambda: typer.main.get_command(app).commands,  # type: ignore[attr-defined]
        )
    except (AccessError, SharedModeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None
    app(args=argv)
