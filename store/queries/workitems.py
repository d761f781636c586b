"""Work items: create once per step, list a page of what a person may see, change state
with guarded updates (the expected status in the WHERE clause, so two people pressing at
once cannot both win), due timers, and holding the items of a console that stopped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import (
    WI_CANCELLED,
    WI_HELD,
    WI_IN_PROGRESS,
    WI_OFFERED,
    WI_OPEN,
    WI_QUEUED,
    Instance,
    WorkItem,
    table_of,
)
from switchyard.store.upsert import insert_ignore

items = table_of(WorkItem)
instances = table_of(Instance)

SORTS = {
    "due": (items.c.due_at.is_(None), items.c.due_at, items.c.priority, items.c.id),
    "priority": (items.c.priority, items.c.due_at.is_(None), items.c.due_at, items.c.id),
    "process": (items.c.process, items.c.priority, items.c.id),
    "newest": (items.c.id.desc(),),
}


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> int:
    """Create the item of one step, or find the one a replay of that step created."""
    await conn.execute(insert_ignore(conn, items, ["instance_id", "step_key"]).values(**row))
    found = await get_for_step(conn, row["instance_id"], row["step_key"])
    assert found is not None
    return int(found["id"])


async def get(conn: AsyncConnection, item_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(items).where(items.c.id == item_id))).mappings().first()
    return dict(row) if row else None


async def get_for_step(
    conn: AsyncConnection, instance_id: int, step_key: str
) -> dict[str, Any] | None:
    stmt = select(items).where(items.c.instance_id == instance_id, items.c.step_key == step_key)
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def for_instance(conn: AsyncConnection, instance_id: int) -> list[dict[str, Any]]:
    stmt = select(items).where(items.c.instance_id == instance_id).order_by(items.c.id)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


def mine(login: str) -> ColumnElement[bool]:
    """Offered to, claimed by or held at ``login``."""
    return and_(items.c.user == login, items.c.status.in_([WI_OFFERED, WI_IN_PROGRESS, WI_HELD]))


def in_groups(groups: Sequence[str]) -> ColumnElement[bool]:
    """Waiting in one of ``groups`` for somebody to pick it up (queued, or held there)."""
    if not groups:
        return false()
    return and_(
        items.c.workgroup.in_(list(groups)),
        items.c.user.is_(None),
        items.c.status.in_([WI_QUEUED, WI_HELD]),
    )


def of_instances(visible: ColumnElement[bool] | None) -> ColumnElement[bool]:
    """Items whose instance matches ``visible`` (a WHERE on instances; None = all)."""
    if visible is None:
        return items.c.id.is_not(None)
    sub = select(instances.c.id).where(visible)
    return items.c.instance_id.in_(sub)


def filters(
    *,
    process: str | None = None,
    status: Sequence[str] | None = None,
    overdue_at: datetime | None = None,
    priority: int | None = None,
    workgroup: str | None = None,
) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if workgroup:
        out.append(items.c.workgroup == workgroup)
    if process:
        out.append(items.c.process == process)
    if status:
        out.append(items.c.status.in_(list(status)))
    if overdue_at is not None:
        out.append(and_(items.c.due_at.is_not(None), items.c.due_at < overdue_at))
    if priority is not None:
        out.append(items.c.priority <= priority)
    return out


async def page(
    conn: AsyncConnection,
    where: ColumnElement[bool],
    *,
    sort: str = "due",
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    stmt = select(items).where(where).order_by(*SORTS[sort]).limit(limit).offset(offset)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def count(conn: AsyncConnection, where: ColumnElement[bool]) -> int:
    stmt = select(func.count()).select_from(items).where(where)
    return int((await conn.execute(stmt)).scalar_one())


def open_only() -> ColumnElement[bool]:
    return items.c.status.in_(list(WI_OPEN))


def any_of(*clauses: ColumnElement[bool]) -> ColumnElement[bool]:
    return or_(false(), *clauses)


async def change(
    conn: AsyncConnection,
    item_id: int,
    values: dict[str, Any],
    *,
    only_status: Sequence[str],
    only_user: str | bool | None = False,
) -> int:
    """Update one item if it is still in one of ``only_status`` (and, when ``only_user``
    is given, still at that user). Returns 1 if it changed, 0 if someone was first."""
    stmt = update(items).where(items.c.id == item_id, items.c.status.in_(list(only_status)))
    if only_user is not False:
        stmt = stmt.where(
            items.c.user.is_(None) if only_user is None else items.c.user == only_user
        )
    return (await conn.execute(stmt.values(**values))).rowcount


async def due(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
    stmt = (
        select(items)
        .where(items.c.timer_at <= now, open_only())
        .order_by(items.c.timer_at)
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def hold_sessions(
    conn: AsyncConnection, sessions: Sequence[str], reason: str, now: datetime
) -> list[int]:
    """Items in progress in consoles that stopped come back held at the same user, their
    drafts kept. Returns their ids."""
    if not sessions:
        return []
    where = and_(items.c.status == WI_IN_PROGRESS, items.c.session.in_(list(sessions)))
    ids = [int(r) for r in (await conn.execute(select(items.c.id).where(where))).scalars()]
    if ids:
        await conn.execute(
            update(items)
            .where(items.c.id.in_(ids), items.c.status == WI_IN_PROGRESS)
            .values(status=WI_HELD, session=None, held_reason=reason, updated_at=now)
        )
    return ids


async def sessions_in_progress(conn: AsyncConnection) -> set[str]:
    stmt = (
        select(items.c.session)
        .where(items.c.status == WI_IN_PROGRESS, items.c.session.is_not(None))
        .distinct()
    )
    return {str(s) for s in (await conn.execute(stmt)).scalars()}


async def withdraw(
    conn: AsyncConnection,
    instance_id: int,
    reason: str,
    now: datetime,
    *,
    only: Sequence[int] | None = None,
) -> list[int]:
    """Cancel the instance's open items (or those of ``only``) with ``reason`` kept in
    ``held_reason``. Returns the ids of those it cancelled."""
    where = and_(items.c.instance_id == instance_id, open_only())
    if only is not None:
        where = and_(where, items.c.id.in_(list(only)))
    ids = [int(r) for r in (await conn.execute(select(items.c.id).where(where))).scalars()]
    if ids:
        await conn.execute(
            update(items)
            .where(items.c.id.in_(ids), open_only())
            .values(
                status=WI_CANCELLED,
                session=None,
                timer_at=None,
                held_reason=reason[:300],
                updated_at=now,
            )
        )
    return ids
