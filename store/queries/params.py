"""Server parameters (``params``): name -> JSON value; defaults live in the engine.

One reserved row is no parameter: ``~changes`` holds a token replaced in the same commit as
every change of users, groups, rights, security specs, parameters or published definitions
(engine/kernel/tx.py). Reading it is how any process learns, in one primary-key lookup,
whether what it cached of those is still current (the monitor's cache). ``stored`` leaves
it out, so it is never listed, exported or imported as a parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import ColumnElement, Text, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Param, table_of
from switchyard.store.upsert import insert_ignore

params = table_of(Param)

CHANGES = "~changes"  # the reserved row (see above); a parameter name never starts with "~"


def changes_token() -> ColumnElement[str]:
    """The current change token as a scalar subquery (NULL before the first change), to read
    in the same statement (so the same snapshot) as the data it vouches for. As stored (no
    JSON decoding): it is only compared."""
    return type_coerce(
        select(params.c.value).where(params.c.name == CHANGES).scalar_subquery(), Text
    )


async def changes(conn: AsyncConnection) -> Any:
    """The current change token (None before the first change)."""
    return (await conn.execute(select(changes_token()))).scalar()


async def bump_changes(conn: AsyncConnection, now: datetime) -> None:
    """A new token: whatever another process cached under the old one is stale."""
    await put(conn, CHANGES, uuid4().hex, now)


async def stored(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Every stored parameter by name: {"value": ..., "updated_at": ...}."""
    rows = await conn.execute(
        select(params.c.name, params.c.value, params.c.updated_at).where(params.c.name != CHANGES)
    )
    return {name: {"value": value, "updated_at": at} for name, value, at in rows.all()}


async def put(conn: AsyncConnection, name: str, value: Any, now: datetime) -> None:
    """Store a parameter's value (insert or replace)."""
    await conn.execute(
        insert_ignore(conn, params, ["name"]).values(name=name, value=value, updated_at=now)
    )
    await conn.execute(
        update(params).where(params.c.name == name).values(value=value, updated_at=now)
    )
