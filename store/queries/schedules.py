"""Schedules: rows, due-time lookups and guarded next-fire updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Schedule

schedules = Schedule.__table__


async def get_by_name(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(schedules).where(schedules.c.name == name))).mappings().first()
    return dict(row) if row else None


async def get(conn: AsyncConnection, schedule_id: int) -> dict[str, Any] | None:
    row = (
        (await conn.execute(select(schedules).where(schedules.c.id == schedule_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> int:
    res = await conn.execute(schedules.insert().values(**values).returning(schedules.c.id))
    return int(res.scalar_one())


async def update_fields(conn: AsyncConnection, schedule_id: int, values: dict[str, Any]) -> int:
    res = await conn.execute(
        update(schedules).where(schedules.c.id == schedule_id).values(**values)
    )
    return res.rowcount


async def remove(conn: AsyncConnection, schedule_id: int) -> int:
    res = await conn.execute(delete(schedules).where(schedules.c.id == schedule_id))
    return res.rowcount


async def list_all(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(schedules).order_by(schedules.c.name))
    return [dict(r) for r in rows.mappings()]


async def chained_after(conn: AsyncConnection, name: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(schedules).where(schedules.c.after == name, schedules.c.paused.is_(False))
    )
    return [dict(r) for r in rows.mappings()]


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[dict[str, Any]]:
    stmt = (
        select(schedules)
        .where(schedules.c.next_fire_at <= now, schedules.c.paused.is_(False))
        .order_by(schedules.c.next_fire_at, schedules.c.id)
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def earliest_fire(conn: AsyncConnection) -> datetime | None:
    stmt = select(func.min(schedules.c.next_fire_at)).where(schedules.c.paused.is_(False))
    return (await conn.execute(stmt)).scalar()


_advance = (
    update(schedules)
    .where(schedules.c.id == bindparam("b_id"), schedules.c.next_fire_at == bindparam("b_old"))
    .values(
        next_fire_at=bindparam("b_next"),
        last_fire_at=bindparam("b_last"),
        updated_at=bindparam("b_now"),
    )
)


async def advance_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Move each schedule's next fire on, only where no other node already did (guarded)."""
    if rows:
        await conn.execute(_advance, rows)
