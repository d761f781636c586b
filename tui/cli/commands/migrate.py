"""``switchyard migrate --to postgresql://... [--from PATH]``: copy a SQLite store into an
empty PostgreSQL database, with a progress bar per table (on stderr), then the
verification table and the quarantined rows (on stdout). Merged into the root app by
tui/cli/registry.py.

Exit codes: 0 copied and verified; 1 a verification mismatch; 2 a bad ``--to``/``--from``;
3 no store at ``--from``; 4 refused (a live node on the source, a target holding data,
not an admin); 5 a store out of reach; 130 interrupted (rerun it: it resumes)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.root import JsonOption, run, state

if TYPE_CHECKING:  # the command line imports the engine only when a command runs
    from switchyard.engine.api import Engine
    from switchyard.engine.ops.migration import MigrationResult

area = typer.Typer()  # merged into the root app by tui/cli/registry.py

EXIT_MISMATCH = 1


def _as_json(result: MigrationResult) -> dict[str, Any]:
    report = result.report
    return {
        "source": report.source,
        "target": report.target,
        "ok": report.ok,
        "resumed": report.resumed,
        "copied": report.copied,
        "seconds": round(report.seconds, 3),
        "key_file": str(result.key_file),
        "tables": [
            {
                "table": c.table,
                "source_rows": c.source_rows,
                "quarantined": c.quarantined,
                "target_rows": c.target_rows,
                "source_checksum": c.source_checksum,
                "target_checksum": c.target_checksum,
                "ok": c.ok,
            }
            for c in report.checks
        ],
        "quarantine": [
            {"table": q.table, "key": q.key, "reason": q.reason} for q in report.quarantined
        ],
    }


def _print(result: MigrationResult) -> None:
    report = result.report
    rows = [
        [
            c.table,
            str(c.source_rows),
            str(c.quarantined),
            str(c.target_rows),
            c.source_checksum,
            c.target_checksum,
            "ok" if c.ok else "MISMATCH",
        ]
        for c in report.checks
    ]
    headers = ["TABLE", "SOURCE", "QUARANTINED", "TARGET", "SOURCE KEYS", "TARGET KEYS", "CHECK"]
    typer.echo(fmt.table(headers, rows))
    if report.quarantined:
        typer.echo(f"\nquarantined ({len(report.quarantined)}; kept in migration_quarantine):")
        typer.echo(
            fmt.table(
                ["TABLE", "KEY", "REASON"],
                [[q.table, q.key, q.reason] for q in report.quarantined],
            )
        )
    verdict = "verified" if report.ok else "VERIFICATION FAILED"
    typer.echo(f"\n{report.source} -> {report.target}: {verdict} ({report.seconds:.1f}s)")
    typer.echo(
        f"secrets were copied encrypted: PostgreSQL nodes need the key {result.key_file} "
        "(run them with SWITCHYARD_DATA or SWITCHYARD_SECRET_KEY_FILE pointing at it)"
    )


@area.command()
def migrate(
    to: Annotated[
        str, typer.Option("--to", help="The empty PostgreSQL database: postgresql://USER@HOST/DB.")
    ],
    source: Annotated[
        str | None,
        typer.Option("--from", help="The SQLite store to copy (default: --db or the default)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a SQLite store into an empty PostgreSQL database, verify it, list what could
    not be carried (admins; no node may run on the source; rerun after an interruption)."""
    from switchyard.tui.cli.progress_bars import Bars  # rich: only when migrating

    bars = Bars(enabled=not as_json)

    async def go(engine: Engine) -> MigrationResult:
        return await engine.migrate_to(to, bars)

    try:
        result = run(go, db=source or state.db)
    finally:
        bars.stop()
    if as_json:
        typer.echo(json.dumps(_as_json(result), indent=2))
    else:
        _print(result)
    if not result.report.ok:
        raise typer.Exit(EXIT_MISMATCH)
