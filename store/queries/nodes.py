"""Nodes: running engines and their heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Node, table_of

nodes = table_of(Node)


async def register(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(nodes.insert().values(**row))


async def heartbeat(conn: AsyncConnection, node_id: str, now: datetime) -> None:
    await conn.execute(update(nodes).where(nodes.c.id == node_id).values(heartbeat_at=now))


async def mark_stopped(conn: AsyncConnection, node_id: str, now: datetime) -> None:
    await conn.execute(update(nodes).where(nodes.c.id == node_id).values(stopped_at=now))


async def running(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Nodes that have not said they stopped (they may still be dead: check heartbeats)."""
    stmt = select(nodes).where(nodes.c.stopped_at.is_(None)).order_by(nodes.c.started_at)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def set_restoring(conn: AsyncConnection, node_id: str, restoring: bool) -> None:
    await conn.execute(update(nodes).where(nodes.c.id == node_id).values(restoring=restoring))
