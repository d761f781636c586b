"""Server parameters (``params``): name -> JSON value; defaults live in the engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Param, table_of
from switchyard.store.upsert import insert_ignore

params = table_of(Param)


async def stored(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Every stored parameter by name: {"value": ..., "updated_at": ...}."""
    rows = await conn.execute(select(params.c.name, params.c.value, params.c.updated_at))
    return {name: {"value": value, "updated_at": at} for name, value, at in rows.all()}


async def put(conn: AsyncConnection, name: str, value: Any, now: datetime) -> None:
    """Store a parameter's value (insert or replace)."""
    await conn.execute(
        insert_ignore(conn, params, ["name"]).values(name=name, value=value, updated_at=now)
    )
    await conn.execute(
        update(params).where(params.c.name == name).values(value=value, updated_at=now)
    )
