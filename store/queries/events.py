"""The events table: the cross-process change feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Event, table_of

events = table_of(Event)


CHANNEL = "switchyard_events"


INSERT_EVENT = events.insert()  # one statement object: the group writer compiles it once


async def append_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Append events; on PostgreSQL also NOTIFY listeners (delivered at commit)."""
    if rows:
        await conn.execute(events.insert(), rows)
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"NOTIFY {CHANNEL}"))


async def since(conn: AsyncConnection, after_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    stmt = select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def since_from_others(
    conn: AsyncConnection, after_id: int, node_id: str, limit: int = 1000
) -> tuple[int, list[dict[str, Any]]]:
    """The events after ``after_id`` (up to ``limit``) that ``node_id`` did not write, as
    ``since`` gives them, and the highest id looked at. A busy node's own events (one per
    process instance it ends) are passed over by id, never decoded (JSON, timestamps)."""
    heads = (
        await conn.execute(
            select(events.c.id, events.c.node_id)
            .where(events.c.id > after_id)
            .order_by(events.c.id)
            .limit(limit)
        )
    ).all()
    if not heads:
        return after_id, []
    wanted = [int(event_id) for event_id, author in heads if author != node_id]
    rows: list[dict[str, Any]] = []
    if wanted:  # events are never changed once written: read by id, no race
        stmt = select(events).where(events.c.id.in_(wanted)).order_by(events.c.id)
        rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    return int(heads[-1][0]), rows


async def last_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.max(events.c.id)))).scalar() or 0)


async def prune(conn: AsyncConnection, older_than: datetime) -> int:
    return (await conn.execute(delete(events).where(events.c.at < older_than))).rowcount
