"""Command-line verbs for work items: ``switchyard workitems`` lists them, ``switchyard
workitem show|claim|release|hold|delegate|forward|complete`` acts on one.

``complete`` checks the values like the console's form does: every wrong field is named
with what is wrong, and nothing changes. Exit codes: 2 bad input or a conflict (someone
else has the item), 3 not found, 4 not allowed (the message names the missing right)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.root import JsonOption, fail, parse_pairs, run

if TYPE_CHECKING:
    from switchyard.engine.workitems.views import WorkItemDetail, WorkItemView

area = typer.Typer()  # merged into the root app by tui/cli/registry.py

workitem_app = typer.Typer(help="One work item: show, claim, release, complete ...")
area.add_typer(workitem_app, name="workitem")

IdArg = Annotated[int, typer.Argument(help="The work item's id.")]


def _echo_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, default=str))


def _due(view: WorkItemView) -> str:
    if view.due_at is None:
        return "-"
    return fmt.when(view.due_at) + (" OVERDUE" if view.overdue else "")


@area.command("workitems")
def workitems(
    mine: Annotated[
        bool, typer.Option("--mine", help="Offered to, claimed by or held at you.")
    ] = False,
    group: Annotated[
        str | None, typer.Option("--group", help="Waiting in this workgroup of yours.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every item you may see.")] = False,
    process: Annotated[str | None, typer.Option(help="Only items of this process.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue items.")] = False,
    closed: Annotated[
        bool, typer.Option("--closed", help="Completed and cancelled ones too.")
    ] = False,
    sort: Annotated[str, typer.Option(help="due | priority | process | newest")] = "due",
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Work items: yours (default), waiting in your groups (--group G), or all you may see."""
    if sum([mine, group is not None, all_]) > 1:
        fail("workitems: give one of --mine, --group G or --all")
    view = "all" if all_ else "groups" if group is not None else "mine"
    statuses = ["queued", "offered", "in progress", "held", "completed", "cancelled"]
    page = run(
        lambda e: e.work_items(
            view,
            process=process,
            overdue=overdue,
            workgroup=group,
            status=statuses if closed else None,
            sort=sort,
            limit=limit,
        )
    )
    if as_json:
        return _echo_json([r.to_json() for r in page.rows])
    rows = [
        [
            str(r.id),
            r.title,
            f"{r.process} #{r.instance_id}",
            r.status + (" (escalated)" if r.escalated else ""),
            r.where,
            str(r.priority),
            _due(r),
        ]
        for r in page.rows
    ]
    typer.echo(fmt.table(["ID", "TITLE", "INSTANCE", "STATUS", "WITH", "PRIO", "DUE"], rows))
    counts = page.counts
    more = f" (showing {len(page.rows)})" if page.total > len(page.rows) else ""
    typer.echo(
        f"{page.total} item(s){more} · open: mine {counts['mine']}, "
        f"my groups {counts['groups']}, all {counts['all']}"
    )


def _value(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return fmt.when(value)
    return str(value)


def _show(detail: WorkItemDetail) -> None:
    item = detail.item
    typer.echo(f"work item {item.id}: {item.title}  ({item.process} #{item.instance_id})")
    typer.echo(f"status:   {item.status}" + (f" ({item.held_reason})" if item.held_reason else ""))
    typer.echo(
        f"with:     {item.where}"
        + (f"  (workgroup {item.workgroup})" if item.user and item.workgroup else "")
    )
    typer.echo(f"priority: {item.priority}    due: {_due(item)}")
    if item.button:
        typer.echo(
            f"completed by {item.completed_by} with {item.button} at {fmt.when(item.completed_at)}"
        )
    typer.echo("fields:")
    width = max((len(f.name) for f in detail.fields), default=4)
    for f in detail.fields:
        flags = [f.type]
        if f.required:
            flags.append("required")
        if f.readonly:
            flags.append("read-only")
        if f.choices:
            flags.append("choices: " + ", ".join(str(c) for c in f.choices))
        typer.echo(f"  {f.name.ljust(width)}  {_value(f.value)}    [{'; '.join(flags)}]")
    typer.echo("buttons:  " + "  ".join(f"[{b}]" for b in detail.buttons))
    allowed = [op for op, ok in detail.may.items() if ok]
    typer.echo("you may:  " + (", ".join(allowed) or "nothing"))


@workitem_app.command("show")
def workitem_show(item_id: IdArg, as_json: JsonOption = False) -> None:
    """An item, its form's fields with their values (secured ones ****), its buttons."""
    detail = run(lambda e: e.work_item(item_id))
    if as_json:
        return _echo_json(detail.to_json())
    _show(detail)


def _done(view: WorkItemView, as_json: bool, what: str) -> None:
    if as_json:
        return _echo_json(view.to_json())
    typer.echo(f"work item {view.id} {what}: {view.status}, with {view.where}")


@workitem_app.command("claim")
def workitem_claim(item_id: IdArg, as_json: JsonOption = False) -> None:
    """Pick an item up from your workgroup (or one offered to you)."""
    _done(run(lambda e: e.claim_work_item(item_id)), as_json, "claimed")


@workitem_app.command("release")
def workitem_release(item_id: IdArg, as_json: JsonOption = False) -> None:
    """Give an item back to its workgroup (typed values are kept)."""
    _done(run(lambda e: e.release_work_item(item_id)), as_json, "released")


@workitem_app.command("hold")
def workitem_hold(item_id: IdArg, as_json: JsonOption = False) -> None:
    """Put an item aside; it stays yours (claim it again to go on)."""
    _done(run(lambda e: e.hold_work_item(item_id)), as_json, "held")


@workitem_app.command("delegate")
def workitem_delegate(
    item_id: IdArg,
    login: Annotated[str, typer.Argument(help="The user to offer it to.")],
    as_json: JsonOption = False,
) -> None:
    """Offer an item to another user."""
    _done(run(lambda e: e.delegate_work_item(item_id, login)), as_json, "delegated")


@workitem_app.command("forward")
def workitem_forward(
    item_id: IdArg,
    group: Annotated[str, typer.Argument(help="The workgroup to send it to.")],
    as_json: JsonOption = False,
) -> None:
    """Send an item to another workgroup."""
    _done(run(lambda e: e.forward_work_item(item_id, group)), as_json, "forwarded")


@workitem_app.command("complete")
def workitem_complete(
    item_id: IdArg,
    button: Annotated[str, typer.Option("--button", help="The button to press (its label).")],
    field: Annotated[
        list[str] | None, typer.Option("--field", help="K=V: a field's value (repeatable).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Press a button: the fields are checked like the form checks them; then the
    button's actions run in the instance and it goes on."""
    from switchyard.engine.workitems.forms import FormInvalid

    values = parse_pairs(field or [], "--field")

    async def complete(engine: Any) -> WorkItemView:
        try:
            return await engine.complete_work_item(item_id, button, values)
        except FormInvalid as exc:
            for name, problem in exc.errors.items():
                typer.echo(f"error: work item {item_id}: field {name}: {problem}", err=True)
            raise typer.Exit(2) from None

    _done(run(complete), as_json, f"completed with {button}")
