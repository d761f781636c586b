"""The monitor on the command line: ``instances`` with process filters, and the bulk
forms of ``retry``, ``skip`` and ``cancel`` (``--filter``), which act on every instance
the filter matches, with a progress bar and a summary; each instance that could not be
handled is reported with why."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import typer
from switchyard.engine.errors import Refused, SwitchyardError
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.root import fail, run

if TYPE_CHECKING:
    from switchyard.engine.monitor.filters import MonitorFilter


async def _filter(engine: Any, text: str | None, options: dict[str, Any]) -> MonitorFilter:
    from switchyard.engine.monitor.filters import MonitorFilter
    from switchyard.tui.filters import from_options, resolve

    inline = from_options(**options)
    if text is None:
        return inline
    base = await resolve(engine, text)
    if inline.empty:
        return base
    merged = {**base.to_dict(), **inline.to_dict()}
    return MonitorFilter.from_dict(merged)


def monitored(text: str | None, options: dict[str, Any], limit: int, as_json: bool) -> None:
    async def go(engine: Any) -> Any:
        return await engine.monitor(await _filter(engine, text, options), limit=limit)

    page = run(go)
    if as_json:
        import json

        typer.echo(json.dumps([r.to_json() for r in page.rows], indent=2, default=str))
        return
    rows = [
        [
            str(r.instance.id),
            f"{r.instance.process} v{r.version}",
            r.instance.status,
            r.state or "-",
            r.waiting_on or "-",
            r.originator or "-",
            fmt.when(r.updated_at),
            r.instance.node_id or "-",
        ]
        for r in page.rows
    ]
    headers = ["ID", "PROCESS", "STATUS", "STATE", "WAITING ON", "ORIGINATOR", "UPDATED", "NODE"]
    typer.echo(fmt.table(headers, rows))
    if page.total > len(page.rows):
        typer.echo(f"{page.total} match; showing {len(page.rows)} (--limit to see more)")


Op = Callable[[Any, int], Awaitable[Any]]


def bulk(
    verb: str,
    ids: list[int],
    text: str | None,
    options: dict[str, Any],
    op: Op,
) -> None:
    """``op`` on the given ids, or on every instance the filter matches (under the cap).
    A progress bar on a terminal; then one line per problem and a summary. Exit 0 when
    all went, 4 when any was refused, else 2."""
    use_filter = text is not None or any(options.values())
    if ids and use_filter:
        fail(f"{verb}: give instance ids or a filter, not both")
    if not ids and not use_filter:
        fail(f"{verb}: give instance ids, or --filter to {verb} many")
    problems: list[tuple[int, str, int]] = []
    done: list[tuple[int, str]] = []

    async def go(engine: Any) -> None:
        targets = ids or await engine.monitor_ids(await _filter(engine, text, options))

        async def one(instance_id: int) -> None:
            try:
                view = await op(engine, instance_id)
                done.append((instance_id, view.status))
            except SwitchyardError as exc:
                code = 4 if isinstance(exc, Refused) else 2
                problems.append((instance_id, str(exc), code))

        if len(targets) < 2 or not sys.stderr.isatty():  # a bar only where someone sees it
            for instance_id in targets:
                await one(instance_id)
            return
        with typer.progressbar(
            targets, label=f"{verb} {len(targets)}", file=sys.stderr, show_pos=True
        ) as bar:
            for instance_id in bar:
                await one(instance_id)

    run(go)
    for instance_id, status in done:
        typer.echo(f"instance {instance_id}: {verb}: now {status}")
    for instance_id, problem, _ in problems:
        typer.echo(f"error: instance {instance_id}: {problem}", err=True)
    if use_filter or len(ids) > 1:
        typer.echo(f"{verb}: {len(done)} done, {len(problems)} failed", err=True)
    if problems:
        raise typer.Exit(max(code for _, _, code in problems))


FilterOption = typer.Option(
    "--filter", help="Act on every instance this filter matches (a saved name or 'process=x; a>1')."
)
