"""Copy a SQLite store into a PostgreSQL database (``switchyard migrate``), with SQLAlchemy
Core on both engines.

The target must be empty (or hold only an empty Switchyard schema, or this same
migration left half done). Its schema is made by the normal alembic path
(``Store.open``: store/migrate.py). Then each table, parents first
(transfer_plan.schema_tables), is copied in ONE target transaction: delete what a broken
run left, insert in batches, write the rows that cannot be carried to
``migration_quarantine``, reset the table's sequence, mark the table done in
``migration_progress``. A ``kill -9`` or Ctrl-C mid-table rolls that table back; a rerun
skips the done tables and redoes the rest, so no row is ever copied twice.

Rows are read through the models' tables, so values keep their types (aware UTC times,
JSON documents, booleans, bytes); secret ciphertexts are copied as they are.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Table, func, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.db import Store
from switchyard.store.transfer_plan import (
    PROGRESS,
    QUARANTINE,
    REFS,
    SOURCE_ROW,
    blocked,
    checksum,
    key_hash,
    key_of,
    key_text,
    parents_of,
    row_json,
    schema_tables,
)

BATCH = 500
LOCK = 0x5357_5452  # pg advisory lock key held by the migration under way ("SWTR")


class TransferRefused(Exception):
    """The transfer may not start: ``field`` names what (``to``), the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Observer(Protocol):
    """Told how the copy goes (the command line draws a progress bar per table)."""

    def table_started(self, table: str, total: int) -> None: ...

    def rows_done(self, table: str, count: int) -> None: ...

    def table_done(self, table: str, copied: int, quarantined: int, skipped: bool) -> None: ...


class _Silent:
    def table_started(self, table: str, total: int) -> None:
        pass

    def rows_done(self, table: str, count: int) -> None:
        pass

    def table_done(self, table: str, copied: int, quarantined: int, skipped: bool) -> None:
        pass


@dataclass(frozen=True)
class TableCheck:
    """One table verified: source rows, quarantined, target rows and key checksums."""

    table: str
    source_rows: int
    quarantined: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        return (
            self.source_rows - self.quarantined == self.target_rows
            and self.source_checksum == self.target_checksum
        )


@dataclass(frozen=True)
class Quarantined:
    table: str
    key: str
    reason: str


@dataclass
class TransferReport:
    source: str
    target: str
    resumed: list[str] = field(default_factory=list)  # tables a previous run had finished
    copied: list[str] = field(default_factory=list)
    checks: list[TableCheck] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


# ------------------------------------------------------------------ the target
async def _counts(conn: AsyncConnection, tables: Sequence[Table]) -> dict[str, int]:
    return {
        t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
        for t in tables
    }


async def prepare_target(target: Store, source_id: str, tables: Sequence[Table]) -> bool:
    """Check the target and make its schema; True when resuming this same migration.

    Refused (TransferRefused, field ``to``): a database with other programs' tables, one
    that already holds Switchyard data (what was found is named), or one that holds a
    migration from another source."""
    async with target.read() as conn:
        names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        if names and "alembic_version" not in names:
            found = ", ".join(sorted(names)[:5])
            raise TransferRefused(
                "to", f"{target.where} is not empty and not a Switchyard store (tables: {found})"
            )
        if PROGRESS.name in names:
            row = (
                await conn.execute(
                    select(PROGRESS.c.source).where(PROGRESS.c.table_name == SOURCE_ROW)
                )
            ).first()
            if row is not None and row[0] != source_id:
                raise TransferRefused(
                    "to",
                    f"{target.where} holds a migration from {row[0]}, not from {source_id}; "
                    "give an empty database",
                )
            resuming = True
        else:
            resuming = False
            present = [t for t in tables if t.name in names]
            counts = await _counts(conn, present) if present else {}
            held = [f"{n} {name}" for name, n in counts.items() if n]
            if held:
                raise TransferRefused(
                    "to",
                    f"{target.where} already holds Switchyard data ({', '.join(held)}); "
                    "migrate into an empty database",
                )
    await target.open(create=True)  # the schema, by the normal alembic path
    async with target.write() as conn:
        await conn.run_sync(lambda c: PROGRESS.metadata.create_all(c))
        exists = (
            await conn.execute(
                select(PROGRESS.c.table_name).where(PROGRESS.c.table_name == SOURCE_ROW)
            )
        ).first()
        if exists is None:
            await conn.execute(PROGRESS.insert().values(table_name=SOURCE_ROW, source=source_id))
    return resuming


async def _done_tables(target: Store) -> set[str]:
    async with target.read() as conn:
        rows = await conn.execute(
            select(PROGRESS.c.table_name).where(PROGRESS.c.done_at.is_not(None))
        )
        return {r[0] for r in rows}


async def _carried(target: Store, table: Table) -> dict[str, set[Any]]:
    """The values of the parent columns ``table`` refers to, as the target holds them."""
    out: dict[str, set[Any]] = {}
    meta = table.metadata
    async with target.read() as conn:
        for ref in parents_of(table):
            column = meta.tables[ref.parent].c[ref.parent_column]
            out[ref.parent] = {r[0] for r in await conn.execute(select(column))}
    return out


# ------------------------------------------------------------------- copying
async def _insert(
    conn: AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    refused: list[tuple[dict[str, Any], str]],
) -> int:
    """Insert ``rows``; when the batch fails (a value PostgreSQL refuses: too long, a NUL
    character), insert them one by one and put the refused ones in ``refused``."""
    if not rows:
        return 0
    try:
        async with conn.begin_nested():
            await conn.execute(table.insert(), rows)
        return len(rows)
    except sa_exc.StatementError:
        pass  # the batch: retried row by row below, each refused row quarantined with why
    done = 0
    for row in rows:
        try:
            async with conn.begin_nested():
                await conn.execute(table.insert(), [row])
            done += 1
        except sa_exc.StatementError as exc:
            cause = getattr(exc, "orig", None) or exc
            lines = str(cause).strip().splitlines()
            refused.append(
                (row, f"the target refused it: {lines[0] if lines else type(cause).__name__}")
            )
    return done


async def _reset_sequence(conn: AsyncConnection, table: Table) -> None:
    """After explicit ids: the table's sequence continues after the highest one."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not keys[0].autoincrement or keys[0].type.python_type is not int:
        return
    name = conn.dialect.identifier_preparer.quote(table.name)
    col = conn.dialect.identifier_preparer.quote(keys[0].name)
    await conn.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX({col}), 0) + 1, false) "
            f"FROM {name} HAVING pg_get_serial_sequence(:t, :c) IS NOT NULL"
        ),
        {"t": name, "c": keys[0].name},
    )


async def copy_table(source: Store, target: Store, table: Table, observer: Observer) -> int:
    """Copy one table in one target transaction; returns the rows quarantined."""
    ref_cols = [table.c[r.column] for r in REFS.get(table.name, ())]
    carried = await _carried(target, table)
    async with source.read() as src:
        total = int((await src.execute(select(func.count()).select_from(table))).scalar_one())
        plan: dict[tuple[Any, ...], str] = {}
        if ref_cols:
            cols = list(table.primary_key.columns) + [c for c in ref_cols if not c.primary_key]
            rows = [dict(r) for r in (await src.execute(select(*cols))).mappings()]
            plan = blocked(table, rows, carried)
    observer.table_started(table.name, total)
    now = datetime.now(UTC)
    refused: list[tuple[dict[str, Any], str]] = []
    async with target.write() as dst, source.read() as src:
        await dst.execute(QUARANTINE.delete().where(QUARANTINE.c.table_name == table.name))
        await dst.execute(table.delete())
        order = list(table.primary_key.columns)
        result = await src.stream(select(table).order_by(*order))
        async for part in result.mappings().partitions(BATCH):
            batch: list[dict[str, Any]] = []
            for mapping in part:
                row = dict(mapping)
                why = plan.get(key_of(table, row))
                if why is None:
                    batch.append(row)
                else:
                    refused.append((row, why))
            await _insert(dst, table, batch, refused)
            observer.rows_done(table.name, len(part))
        if refused:
            await dst.execute(
                QUARANTINE.insert(),
                [
                    {
                        "table_name": table.name,
                        "row_key": key_text(key_of(table, row)),
                        "reason": why,
                        "row": row_json(row),
                        "at": now,
                    }
                    for row, why in refused
                ],
            )
        await _reset_sequence(dst, table)
        await dst.execute(PROGRESS.delete().where(PROGRESS.c.table_name == table.name))
        await dst.execute(
            PROGRESS.insert().values(
                table_name=table.name,
                rows=total - len(refused),
                quarantined=len(refused),
                done_at=now,
            )
        )
    observer.table_done(table.name, total - len(refused), len(refused), skipped=False)
    return len(refused)


# ------------------------------------------------------------------ verifying
async def _key_sum(conn: AsyncConnection, table: Table, skip: set[str]) -> tuple[int, str]:
    keys = list(table.primary_key.columns)
    count = 0
    total = 0
    result = await conn.stream(select(*keys))
    async for part in result.partitions(5000):
        for row in part:
            key = tuple(row)
            if key_text(key) in skip:
                continue
            count += 1
            total += key_hash(key)
    return count, checksum(total)


async def verify(source: Store, target: Store, tables: Sequence[Table]) -> list[TableCheck]:
    """Row counts and key checksums of every table, source (less what was quarantined)
    against target."""
    checks: list[TableCheck] = []
    for table in tables:
        async with target.read() as dst:
            rows = await dst.execute(
                select(QUARANTINE.c.row_key).where(QUARANTINE.c.table_name == table.name)
            )
            skip = {r[0] for r in rows}
            target_rows, target_sum = await _key_sum(dst, table, set())
        async with source.read() as src:
            total = int((await src.execute(select(func.count()).select_from(table))).scalar_one())
            _kept, source_sum = await _key_sum(src, table, skip)
        checks.append(TableCheck(table.name, total, len(skip), target_rows, source_sum, target_sum))
    return checks


async def quarantine_list(target: Store) -> list[Quarantined]:
    async with target.read() as conn:
        rows = await conn.execute(
            select(QUARANTINE.c.table_name, QUARANTINE.c.row_key, QUARANTINE.c.reason).order_by(
                QUARANTINE.c.id
            )
        )
        return [Quarantined(r[0], r[1], r[2]) for r in rows]


async def transfer(
    source: Store, target_url: str, observer: Observer | None = None
) -> TransferReport:
    """Copy ``source`` (a SQLite store, no node running on it: the caller checks) into the
    PostgreSQL database ``target_url``, verify, and report."""
    started = time.monotonic()
    seen: Observer = observer or _Silent()
    target = Store(target_url)
    try:
        source_id = source.where
        tables = schema_tables()
        report = TransferReport(source=source_id, target=target.display_url)
        async with target.read() as guard:  # one migration into a database at a time
            got = (
                await guard.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK})
            ).scalar()
            await guard.commit()  # the lock is the session's: held until this connection ends
            if not got:
                raise TransferRefused(
                    "to", f"another migration into {target.where} is under way; wait for it"
                )
            await prepare_target(target, source_id, tables)
            done = await _done_tables(target)
            for table in tables:
                if table.name in done:
                    report.resumed.append(table.name)
                    seen.table_done(table.name, 0, 0, skipped=True)
                    continue
                await copy_table(source, target, table, seen)
                report.copied.append(table.name)
            report.checks = await verify(source, target, tables)
            report.quarantined = await quarantine_list(target)
    finally:
        await target.close()
    report.seconds = time.monotonic() - started
    return report
