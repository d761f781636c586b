"""Commands that open a store or run a node: init, serve, demo; and `node list|drain|
transfer`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from switchyard.tui.cli.root import JsonOption, emit_json, fail, run, state

if TYPE_CHECKING:
    from switchyard.engine.api import Engine

area = typer.Typer()  # merged into the root app by tui/cli/registry.py


@area.command()
def init() -> None:
    """Create the store (or migrate it to this version); the first login becomes its admin.
    Other commands never create a store."""

    async def made(engine: Engine) -> str:
        return f"store ready: {engine.store.display_url} (data in {engine.data_dir})"

    typer.echo(run(made, create=True))


# ------------------------------------------------------------------ nodes
@area.command()
def serve(
    grace: Annotated[
        float, typer.Option(help="Seconds running commands get to finish on stop.")
    ] = 30.0,
) -> None:
    """Run a headless engine until SIGTERM/SIGINT."""
    import asyncio

    from switchyard.tui.serve import serve_forever

    if not 0 <= grace <= 86_400:  # also NaN
        fail(f"grace: must be between 0 and 86400 seconds, got {grace}")
    # errors: the funnel (tui/cli/errors.py)
    asyncio.run(serve_forever(state.db, grace, **state.open_options(create=True)))


@area.command()
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


# ------------------------------------------------------------ node ...
node_app = typer.Typer(help="The nodes on this store: list, drain, transfer.")
area.add_typer(node_app, name="node")


def _grace(text: str | None) -> float | None:
    if text is None:
        return None
    from switchyard.engine.schedules.triggers import TriggerError, parse_duration

    raw = text.strip().lower()
    try:
        return float(raw.removesuffix("s"))
    except ValueError:
        pass
    try:
        return parse_duration(raw, "grace").total_seconds()
    except TriggerError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        fail(f"grace: '{shown}' is not a duration like 30, 30s, 5m or 1h")
        raise AssertionError("unreachable") from None


def _in(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.0f}s"


@node_app.command("list")
def node_list(
    include_stopped: Annotated[
        bool, typer.Option("--all", help="Also nodes stopped in the last hour.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Every node: kind, host, pid, state, what it owns, the lanes it serves, and how long
    until a silent node is presumed dead."""
    from switchyard.tui import formatting as fmt

    views = run(lambda e: e.nodes(include_stopped=include_stopped))
    if as_json:
        return emit_json(views)
    rows = [
        [
            v.id,
            v.kind,
            v.host,
            str(v.pid),
            fmt.when(v.started_at),
            fmt.when(v.heartbeat_at),
            str(v.state),
            str(v.running),
            str(v.waiting),
            ",".join(v.lanes),
            _in(v.dead_in),
            ""
            if v.load_balance_threshold is None
            else f"{v.running + v.waiting}/{v.load_balance_threshold}"
            + (" full" if v.at_threshold else ""),
        ]
        for v in views
    ]
    headers = [
        "ID",
        "KIND",
        "HOST",
        "PID",
        "STARTED",
        "HEARTBEAT",
        "STATE",
        "RUNNING",
        "WAITING",
        "LANES",
        "DEAD IN",
        "LOAD",
    ]
    typer.echo(fmt.table(headers, rows))


@node_app.command("drain")
def node_drain(
    node: Annotated[str, typer.Argument(help="The node's id (see: switchyard node list).")],
    grace: Annotated[
        str | None,
        typer.Option(
            help="Time running commands get to finish (30, 30s, 5m); default: "
            "the node's serve --grace."
        ),
    ] = None,
) -> None:
    """Drain a serve node (admins): it claims nothing new, lets running commands finish,
    hands its waiting instances to other live nodes, then stops."""
    seconds = _grace(grace)
    state = run(lambda e: e.drain_node(node, seconds))
    typer.echo(f"{node}: {state} (it stops claiming at its next heartbeat)")


@node_app.command("transfer")
def node_transfer(
    from_node: Annotated[str, typer.Argument(metavar="FROM", help="A dead or draining node.")],
    to: Annotated[str | None, typer.Option(help="The live node to take over.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Move a dead or draining node's instances to a live node now (admins)."""
    result = run(lambda e: e.transfer_node(from_node, to))
    if as_json:
        return emit_json(result)
    typer.echo(
        f"{result.from_node} ({result.state}) -> {result.to_node}: "
        f"{len(result.requeued)} requeued, {result.restored_in_error} restored in error, "
        f"{len(result.waiting)} waiting handed over"
    )
