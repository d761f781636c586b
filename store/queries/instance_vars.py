"""The indexed copy of process variables that monitor filters query (``instance_vars``).

One row per scalar variable: numbers (and booleans as 0/1) in ``num``, every scalar as
text in ``text`` (dates ISO, so they compare in order). Lists, maps and internal keys
are not indexed. Rows are replaced whole for an instance at its rest points (start,
wait, end, retry): see engine/process/lifecycle.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import bindparam, delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import InstanceVar, table_of

table = table_of(InstanceVar)
TEXT_MAX = 200

DELETE_VARS = delete(table).where(table.c.instance_id == bindparam("b_instance_id"))
INSERT_VAR = insert(table)


def index_rows(instance_id: int, variables: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, value in variables.items():
        if name.startswith("__") or value is None or isinstance(value, dict | list):
            continue
        num: float | None = None
        if isinstance(value, bool):
            num, text = float(value), "true" if value else "false"
        elif isinstance(value, int | float | Decimal):
            num, text = float(value), str(value)
        elif isinstance(value, datetime | date):
            text = value.isoformat()
        else:
            text = str(value)
            num = _number(text) if isinstance(value, str) and _numeric_text(text) else None
        rows.append({"instance_id": instance_id, "name": name, "num": num, "text": text[:TEXT_MAX]})
    return rows


def _numeric_text(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "-+.") and len(text) < 40


def _number(text: str) -> float | None:
    """Decimals travel as text in the variables document ("1500.00")."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return float(value) if value.is_finite() else None


async def replace(conn: AsyncConnection, instance_id: int, variables: dict[str, Any]) -> None:
    await conn.execute(DELETE_VARS, {"b_instance_id": instance_id})
    rows = index_rows(instance_id, variables)
    if rows:
        await conn.execute(INSERT_VAR, rows)


async def add_new(conn: AsyncConnection, docs: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """The index rows of instances just inserted (nothing to delete first)."""
    rows = [r for i, doc in docs for r in index_rows(i, doc)]
    if rows:
        await conn.execute(INSERT_VAR, rows)


async def replace_many(conn: AsyncConnection, docs: Sequence[tuple[int, dict[str, Any]]]) -> None:
    if not docs:
        return
    await conn.execute(DELETE_VARS, [{"b_instance_id": i} for i, _ in docs])
    rows = [r for i, doc in docs for r in index_rows(i, doc)]
    if rows:
        await conn.execute(INSERT_VAR, rows)
