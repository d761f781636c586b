"""The operator's event log (``event_log``): appended by the engine, read newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import EventLogEntry, table_of

event_log = table_of(EventLogEntry)


async def append(
    conn: AsyncConnection,
    at: datetime,
    kind: str,
    node_id: str | None,
    login: str | None,
    message: str,
    detail: dict[str, Any] | None = None,
) -> int:
    """Add one entry; returns its id."""
    result = await conn.execute(
        event_log.insert()
        .values(
            at=at,
            kind=kind,
            node_id=node_id,
            login=login,
            message=message,
            detail=detail or {},
        )
        .returning(event_log.c.id)
    )
    return int(result.scalar_one())


async def page(
    conn: AsyncConnection,
    kinds: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Entries newest first (keyset-paged on id): of these ``kinds`` (None: all), at or
    after ``since`` and before ``until``."""
    stmt = select(event_log).order_by(event_log.c.id.desc()).limit(limit)
    if kinds is not None:
        stmt = stmt.where(event_log.c.kind.in_(list(kinds)))
    if since is not None:
        stmt = stmt.where(event_log.c.at >= since)
    if until is not None:
        stmt = stmt.where(event_log.c.at < until)
    if before_id is not None:
        stmt = stmt.where(event_log.c.id < before_id)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]
