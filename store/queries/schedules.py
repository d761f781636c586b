"""Schedules: rows, due-time lookups and guarded next-fire updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Text,
    bindparam,
    delete,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Instance, Schedule, table_of

schedules = table_of(Schedule)
instances = table_of(Instance)


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


# What the scheduler plans a fire with; the trigger as its stored JSON text (parsed once
# per distinct text by the scheduler's cache, not once per row).
_PLAN_COLUMNS = (
    schedules.c.id,
    schedules.c.name,
    schedules.c.overlap,
    schedules.c.misfire,
    schedules.c.misfire_limit,
    schedules.c.next_fire_at,
    schedules.c.last_fire_at,
    type_coerce(schedules.c.trigger, Text).label("trigger_json"),
)


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Due schedules, locked for this transaction (PostgreSQL; SQLite has one writer).

    Another node firing at the same moment skips the rows this one holds, and sees them
    advanced once it commits: a schedule is never fired by two transactions at once (the
    fire keys alone cannot stop that for continuous schedules, keyed by their last run).
    Rows carry the planning columns only (``_PLAN_COLUMNS``); ``get_many`` reads the rest.
    """
    stmt = (
        select(*_PLAN_COLUMNS)
        .where(schedules.c.next_fire_at <= now, schedules.c.paused.is_(False))
        .order_by(schedules.c.next_fire_at, schedules.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def get_many(conn: AsyncConnection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Whole schedule rows by id."""
    if not ids:
        return {}
    rows = await conn.execute(select(schedules).where(schedules.c.id.in_(ids)))
    return {int(r["id"]): dict(r) for r in rows.mappings()}


# What an instance row takes from its schedule (firing.instance_row): no trigger and no
# times, which cost more to decode than the rest.
_SOURCE_COLUMNS = [
    schedules.c[name]
    for name in (
        "id",
        "name",
        "lane",
        "overlap_limit",
        "command",
        "shell",
        "cwd",
        "env",
        "timeout_seconds",
        "process",
        "variables",
    )
]


async def fire_sources(conn: AsyncConnection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """By id, the columns of schedules that their instances copy."""
    if not ids:
        return {}
    rows = await conn.execute(select(*_SOURCE_COLUMNS).where(schedules.c.id.in_(ids)))
    return {int(r["id"]): dict(r) for r in rows.mappings()}


async def next_fire_time(
    conn: AsyncConnection, since: datetime, now: datetime, *, after: datetime | None = None
) -> datetime | None:
    """The earliest next fire in [since, now] (after ``after``) of an unpaused schedule."""
    low = schedules.c.next_fire_at > after if after else schedules.c.next_fire_at >= since
    stmt = select(func.min(schedules.c.next_fire_at)).where(
        low, schedules.c.next_fire_at <= now, schedules.c.paused.is_(False)
    )
    found: datetime | None = (await conn.execute(stmt)).scalar()
    return found


async def existing_fire_keys(conn: AsyncConnection, keys: list[str]) -> set[str]:
    """Which of these instance fire keys exist (visible to this transaction)."""
    if not keys:
        return set()
    stmt = select(instances.c.fire_key).where(instances.c.fire_key.in_(keys))
    return set((await conn.execute(stmt)).scalars())


async def earliest_fire(conn: AsyncConnection) -> datetime | None:
    stmt = select(func.min(schedules.c.next_fire_at)).where(schedules.c.paused.is_(False))
    found: datetime | None = (await conn.execute(stmt)).scalar()
    return found


_advance = (
    update(schedules)
    .where(schedules.c.id == bindparam("b_id"), schedules.c.next_fire_at == bindparam("b_old"))
    .values(
        next_fire_at=bindparam("b_next"),
        last_fire_at=bindparam("b_last"),
        updated_at=bindparam("b_now"),
    )
)


_advance_ids = (
    update(schedules)
    .where(
        schedules.c.id.in_(bindparam("b_ids", expanding=True)),
        schedules.c.next_fire_at == bindparam("b_old"),
    )
    .values(
        next_fire_at=bindparam("b_next"),
        last_fire_at=bindparam("b_last"),
        updated_at=bindparam("b_now"),
    )
)
_IDS_PER_STATEMENT = 500
_MIN_GROUP = 8  # smaller groups are cheaper in the one executemany


async def advance_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Move each schedule's next fire on, only where no other node already did (guarded).

    Rows moving from and to the same times (a burst of one cron) share one statement over
    their ids: far fewer parameters to process than one row each. The rest go together
    as one executemany, as before.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for r in rows:
        groups.setdefault((r["b_old"], r["b_next"], r["b_last"], r["b_now"]), []).append(r["b_id"])
    singles: list[dict[str, Any]] = []
    for (old, next_, last, now), ids in groups.items():
        if len(ids) < _MIN_GROUP:
            singles.extend(
                {"b_id": i, "b_old": old, "b_next": next_, "b_last": last, "b_now": now}
                for i in ids
            )
            continue
        for i in range(0, len(ids), _IDS_PER_STATEMENT):
            params = {"b_ids": ids[i : i + _IDS_PER_STATEMENT], "b_old": old, "b_next": next_}
            await conn.execute(_advance_ids, {**params, "b_last": last, "b_now": now})
    if singles:
        await conn.execute(_advance, singles)
