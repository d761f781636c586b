"""Monitor filters saved by name, per user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import SavedFilter, table_of

table = table_of(SavedFilter)


async def save(
    conn: AsyncConnection, login: str, name: str, data: dict[str, Any], now: datetime
) -> None:
    await conn.execute(delete(table).where(table.c.login == login, table.c.name == name))
    await conn.execute(table.insert().values(login=login, name=name, filter=data, updated_at=now))


async def list_for(conn: AsyncConnection, login: str) -> list[dict[str, Any]]:
    stmt = select(table).where(table.c.login == login).order_by(table.c.name)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def delete_one(conn: AsyncConnection, login: str, name: str) -> int:
    stmt = delete(table).where(table.c.login == login, table.c.name == name)
    return (await conn.execute(stmt)).rowcount
