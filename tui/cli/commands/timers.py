"""Command-line verbs for timers: ``switchyard timers list`` shows every time-driven thing
with its due time (waits, condition re-checks, work item due dates, reminders,
escalations, schedule fires); ``switchyard timers run`` forces them now, scoped by
process, instance, work item or schedule, or all of them with ``--all``.

``run`` prints one line per timer: ``KEY fired: what it did``, ``KEY already running``
(a previous run of that timer is still going) or ``KEY skipped: why``. Exit codes: 2 bad
input, 3 unknown instance/work item/schedule, 4 not allowed (the message names the
missing right)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.root import JsonOption, emit_json, fail, run

if TYPE_CHECKING:
    from switchyard.engine.node.timers import TimerRunResult, TimerView

area = typer.Typer()  # merged into the root app by tui/cli/registry.py

timers_app = typer.Typer(help="Timers: waits, due dates, reminders, escalations, schedule fires.")
area.add_typer(timers_app, name="timers")

ProcessOpt = Annotated[str | None, typer.Option("--process", help="Timers of this process.")]
InstanceOpt = Annotated[int | None, typer.Option("--instance", help="Timers of this instance.")]
WorkItemOpt = Annotated[int | None, typer.Option("--workitem", help="This work item's timer.")]
ScheduleOpt = Annotated[str | None, typer.Option("--schedule", help="This schedule's next fire.")]


def _row(view: TimerView) -> list[str]:
    name = view.schedule if view.kind == "schedule" else view.process
    return [
        view.key,
        view.what,
        name or "-",
        str(view.instance_id) if view.instance_id is not None else "-",
        fmt.when(view.due_at) + (" DUE" if view.due else ""),
    ]


@timers_app.command("list")
def timers_list(
    process: ProcessOpt = None,
    instance: InstanceOpt = None,
    workitem: WorkItemOpt = None,
    schedule: ScheduleOpt = None,
    due: Annotated[bool, typer.Option("--due", help="Only timers due now.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, soonest first.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Timers you may see, soonest first."""
    views = run(
        lambda e: e.timers(
            process=process,
            instance_id=instance,
            workitem_id=workitem,
            schedule=schedule,
            due_only=due,
            limit=limit,
        )
    )
    if as_json:
        return emit_json(views)
    headers = ["KEY", "WHAT", "PROCESS/SCHEDULE", "INSTANCE", "DUE AT"]
    typer.echo(fmt.table(headers, [_row(v) for v in views]))
    typer.echo(f"{len(views)} timer(s)" + (" (limit reached)" if len(views) >= limit else ""))


def result_lines(result: TimerRunResult) -> list[str]:
    lines = []
    for key in result.fired:
        note = result.notes.get(key)
        lines.append(f"{key} fired" + (f": {note}" if note else ""))
    lines += [f"{key} already running" for key in result.already_running]
    lines += [f"{key} skipped: {why}" for key, why in result.skipped.items()]
    return lines


@timers_app.command("run")
def timers_run(
    process: ProcessOpt = None,
    instance: InstanceOpt = None,
    workitem: WorkItemOpt = None,
    schedule: ScheduleOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every timer you may force.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Force timers now, whatever their due time: a waiting instance is woken, a work
    item's next timer fires, a schedule fires once. Give a scope, or --all."""
    scoped = any(v is not None for v in (process, instance, workitem, schedule))
    if not scoped and not all_:
        fail(
            "timers run: give --process NAME, --instance ID, --workitem ID or "
            "--schedule NAME, or --all to force every timer"
        )
    if scoped and all_:
        fail("timers run: --all forces every timer; leave out the scope, or --all")
    result = run(
        lambda e: e.run_timers(
            process=process, instance_id=instance, workitem_id=workitem, schedule=schedule
        )
    )
    if as_json:
        return emit_json(result)
    lines = result_lines(result)
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo("no timers to run")
