"""Commands that open a store or run a node: init, serve, demo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from switchyard.tui.cli.root import fail, run, state

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
