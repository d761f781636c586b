"""Lanes: named execution slot pools."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import ACTIVE_STATUSES, RUNNING, Instance, Lane, table_of
from switchyard.store.upsert import insert_ignore

lanes = table_of(Lane)
instances = table_of(Instance)


async def get(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(lanes).where(lanes.c.name == name))).mappings().first()
    return dict(row) if row else None


async def add(conn: AsyncConnection, name: str, concurrency: int, now: datetime) -> None:
    await conn.execute(lanes.insert().values(name=name, concurrency=concurrency, created_at=now))


async def ensure(conn: AsyncConnection, name: str, now: datetime) -> None:
    await conn.execute(
        insert_ignore(conn, lanes, ["name"]).values(name=name, concurrency=1, created_at=now)
    )


async def set_concurrency(conn: AsyncConnection, name: str, concurrency: int) -> int:
    res = await conn.execute(
        update(lanes).where(lanes.c.name == name).values(concurrency=concurrency)
    )
    return res.rowcount


async def list_with_counts(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every lane with how many instances run and wait on it."""
    running = func.sum(case((instances.c.status == RUNNING, 1), else_=0))
    counts = (
        select(
            instances.c.lane,
            func.count().label("active"),
            running.label("running"),
        )
        .where(instances.c.status.in_(ACTIVE_STATUSES))
        .group_by(instances.c.lane)
        .subquery()
    )
    stmt = (
        select(
            lanes.c.name,
            lanes.c.concurrency,
            func.coalesce(counts.c.running, 0).label("running"),
            func.coalesce(counts.c.active - func.coalesce(counts.c.running, 0), 0).label("queued"),
        )
        .select_from(lanes.outerjoin(counts, counts.c.lane == lanes.c.name))
        .order_by(lanes.c.name)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def names(conn: AsyncConnection) -> list[str]:
    return list((await conn.execute(select(lanes.c.name).order_by(lanes.c.name))).scalars())
