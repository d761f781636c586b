"""Nodes: running engines and their heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Instance, Node, table_of

nodes = table_of(Node)
instances = table_of(Instance)


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


async def listed(conn: AsyncConnection, stopped_since: datetime | None) -> list[dict[str, Any]]:
    """Nodes not stopped, plus those stopped at or after ``stopped_since`` (None: every
    node ever registered), oldest first."""
    stmt = select(nodes).order_by(nodes.c.started_at, nodes.c.id)
    if stopped_since is not None:
        stmt = stmt.where(nodes.c.stopped_at.is_(None) | (nodes.c.stopped_at >= stopped_since))
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def get(conn: AsyncConnection, node_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(nodes).where(nodes.c.id == node_id))).mappings().first()
    return dict(row) if row is not None else None


async def beat(conn: AsyncConnection, node_id: str, now: datetime) -> dict[str, Any] | None:
    """A heartbeat that also reads what others asked of the node (a drain)."""
    await heartbeat(conn, node_id, now)
    return await get(conn, node_id)


async def set_draining(
    conn: AsyncConnection, node_id: str, now: datetime, grace: float | None
) -> int:
    stmt = (
        update(nodes)
        .where(nodes.c.id == node_id, nodes.c.stopped_at.is_(None))
        .values(draining_at=now, drain_grace=grace)
    )
    return (await conn.execute(stmt)).rowcount


_OWNED = text(
    "SELECT node_id, status, lane, count(*) FROM instances "
    "WHERE node_id IS NOT NULL AND status IN ('running', 'waiting') "
    "GROUP BY node_id, status, lane"
)
_OWNED_BY = text(
    "SELECT count(*) FROM instances WHERE node_id = :node AND status IN ('running', 'waiting')"
)


async def owned(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Per node: its ``running`` and ``waiting`` instances and the lanes they are on."""
    out: dict[str, dict[str, Any]] = {}
    for node_id, status, lane, count in (await conn.execute(_OWNED)).all():
        entry = out.setdefault(str(node_id), {"running": 0, "waiting": 0, "lanes": set()})
        entry[str(status)] += int(count)
        if lane:
            entry["lanes"].add(str(lane))
    return out


async def owned_by(conn: AsyncConnection, node_id: str) -> int:
    """Active (running + waiting) instances ``node_id`` owns."""
    return int((await conn.execute(_OWNED_BY, {"node": node_id})).scalar() or 0)


async def waiting_of(conn: AsyncConnection, node_id: str) -> list[int]:
    stmt = select(instances.c.id).where(
        instances.c.node_id == node_id, instances.c.status == "waiting"
    )
    return [int(i) for i in (await conn.execute(stmt.order_by(instances.c.id))).scalars()]


async def hand_over(conn: AsyncConnection, ids: list[int], from_node: str, to_node: str) -> int:
    """Waiting instances of ``from_node`` become ``to_node``'s (still waiting: no status
    change, only the owner; one that woke meanwhile is left alone)."""
    if not ids:
        return 0
    stmt = (
        update(instances)
        .where(
            instances.c.id.in_(ids),
            instances.c.node_id == from_node,
            instances.c.status == "waiting",
        )
        .values(node_id=to_node)
    )
    return (await conn.execute(stmt)).rowcount


async def orphaned_waiting(conn: AsyncConnection, keep: list[str]) -> dict[str, list[int]]:
    """Waiting instances owned by a node not in ``keep`` (dead, stopped, gone), per owner."""
    stmt = select(instances.c.id, instances.c.node_id).where(
        instances.c.status == "waiting",
        instances.c.node_id.is_not(None),
        instances.c.node_id.not_in(keep),
    )
    found: dict[str, list[int]] = {}
    for instance_id, node_id in (await conn.execute(stmt)).all():
        found.setdefault(str(node_id), []).append(int(instance_id))
    return found


async def draining(conn: AsyncConnection, node_id: str) -> bool:
    """Whether ``node_id`` was asked to drain: it claims nothing more."""
    stmt = select(nodes.c.draining_at).where(nodes.c.id == node_id)
    return (await conn.execute(stmt)).scalar() is not None
