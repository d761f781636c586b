"""What a store transfer (store/transfer.py) needs besides copying: the bookkeeping tables
it keeps on the target, the order of the tables, what cannot be carried (quarantine
rules), and the checksums that verify the copy.

The bookkeeping tables are not part of the Switchyard schema (no alembic migration):
they exist only on a database that was the target of ``switchyard migrate``.

    migration_progress   one row per table copied (rows, quarantined, when) and one row
                         ``(source)`` naming the source: a rerun skips done tables and
                         refuses a target that holds another source's migration
    migration_quarantine one row per source row not carried: table, key, reason, the row
                         as JSON (kept, nothing is lost)
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text
from sqlalchemy.schema import sort_tables
from sqlmodel import SQLModel
from switchyard.store import models
from switchyard.store.models import UTCDateTime

BOOKKEEPING = MetaData()
PROGRESS = Table(
    "migration_progress",
    BOOKKEEPING,
    Column("table_name", String(100), primary_key=True),
    Column("rows", BigInteger, nullable=True),
    Column("quarantined", BigInteger, nullable=True),
    Column("source", Text, nullable=True),
    Column("done_at", UTCDateTime(), nullable=True),
)
QUARANTINE = Table(
    "migration_quarantine",
    BOOKKEEPING,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("table_name", String(100), nullable=False, index=True),
    Column("row_key", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("row", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=True),
)
SOURCE_ROW = "(source)"  # PROGRESS.table_name of the row that names the source


@dataclass(frozen=True)
class Ref:
    """A column that names a row of another (or the same) table. There are no foreign keys
    in the schema; a row whose reference cannot be carried is quarantined."""

    column: str
    parent: str
    parent_column: str
    reason: str  # "{value}" is replaced by the missing value


_INSTANCE = "instances"
REFS: dict[str, tuple[Ref, ...]] = {
    _INSTANCE: (
        Ref(
            "definition_id",
            "process_definitions",
            "id",
            "its definition version {value} is missing",
        ),
        Ref("parent_id", _INSTANCE, "id", "its parent instance {value} is gone"),
    ),
    "work_items": (Ref("instance_id", _INSTANCE, "id", "its instance {value} is gone"),),
    "steps": (Ref("instance_id", _INSTANCE, "id", "its instance {value} is gone"),),
    "instance_history": (Ref("instance_id", _INSTANCE, "id", "its instance {value} is gone"),),
    "instance_vars": (Ref("instance_id", _INSTANCE, "id", "its instance {value} is gone"),),
    "log_chunks": (Ref("instance_id", _INSTANCE, "id", "its instance {value} is gone"),),
}


def schema_tables() -> list[Table]:
    """Every Switchyard table, parents before the tables that name them (the metadata's
    dependency sort, with the references above as extra dependencies)."""
    meta = SQLModel.metadata
    assert models.Lane.__tablename__ in meta.tables  # the models are registered
    tables = list(meta.tables.values())
    extra = [
        (meta.tables[ref.parent], meta.tables[name])
        for name, refs in REFS.items()
        for ref in refs
        if ref.parent != name
    ]
    return list(sort_tables(tables, extra_dependencies=extra))


def key_of(table: Table, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in table.primary_key.columns)


def key_text(key: tuple[Any, ...]) -> str:
    """A row's key as the quarantine table and the checksums write it."""
    return "\x1f".join("" if v is None else str(v) for v in key)


def key_hash(key: tuple[Any, ...]) -> int:
    return int.from_bytes(hashlib.sha256(key_text(key).encode()).digest()[:8], "big")


MASK = (1 << 64) - 1


def checksum(total: int) -> str:
    """The order-free checksum of a table's keys: the sum of their hashes mod 2**64."""
    return f"{total & MASK:016x}"


def row_json(row: dict[str, Any]) -> str:
    """A quarantined row, whole, as JSON text (bytes as base64, times as ISO)."""

    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return {"base64": base64.b64encode(value).decode()}
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value)

    return json.dumps(row, default=plain, sort_keys=True)


def blocked(
    table: Table,
    rows: list[dict[str, Any]],
    carried: dict[str, set[Any]],
) -> dict[tuple[Any, ...], str]:
    """The rows (given: key and reference columns) that cannot be carried, with why.

    ``carried`` holds, per parent table, the values already on the target. A reference
    to the table itself (an instance's parent) is resolved among the rows given,
    repeated until nothing changes: a child of a quarantined instance is quarantined."""
    refs = REFS.get(table.name, ())
    bad: dict[tuple[Any, ...], str] = {}
    for row in rows:
        for ref in refs:
            value = row.get(ref.column)
            if ref.parent == table.name or value is None:
                continue
            if value not in carried.get(ref.parent, set()):
                bad[key_of(table, row)] = ref.reason.format(value=value)
                break
    own = [r for r in refs if r.parent == table.name]
    changed = bool(own)
    while changed:
        changed = False
        present = {r[own[0].parent_column] for r in rows if key_of(table, r) not in bad}
        for row in rows:
            key = key_of(table, row)
            if key in bad:
                continue
            for ref in own:
                value = row.get(ref.column)
                if value is not None and value not in present:
                    bad[key] = ref.reason.format(value=value)
                    changed = True
                    break
    return bad


def parents_of(table: Table) -> list[Ref]:
    return [r for r in REFS.get(table.name, ()) if r.parent != table.name]
