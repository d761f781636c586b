"""Claiming runnable work: one atomic statement per backend.

SQLite: the write transaction is ``BEGIN IMMEDIATE`` (one writer at a time), so a guarded
UPDATE ... WHERE id = (SELECT ...) AND status = 'queued' cannot race.
PostgreSQL: the lane row is locked first (``FOR UPDATE``) so lane concurrency holds across
nodes, and the candidate row is picked with ``FOR UPDATE SKIP LOCKED``.

The per-schedule overlap limit is part of the claim: a queued instance whose schedule
already has ``overlap_limit`` running instances is passed over (later ones may run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import UTCDateTime
from switchyard.store.queries import instances

_CANDIDATE = """
    SELECT i.id FROM instances i
    WHERE i.lane = :lane AND i.status = 'queued'
      AND (i.overlap_limit = 0 OR i.schedule_id IS NULL OR
           (SELECT count(*) FROM instances r
             WHERE r.schedule_id = i.schedule_id AND r.status = 'running') < i.overlap_limit)
    ORDER BY i.id
    LIMIT 1
"""

_CLAIM = """
UPDATE instances
   SET status = 'running', node_id = :node, host = :host, started_at = :now, updated_at = :now
 WHERE id = ({candidate})
   AND status = 'queued'
   AND (SELECT count(*) FROM instances WHERE lane = :lane AND status = 'running') < :concurrency
RETURNING id
"""

_NOW = bindparam("now", type_=UTCDateTime())
_SQLITE_CLAIM = text(_CLAIM.format(candidate=_CANDIDATE)).bindparams(_NOW)
_PG_CLAIM = text(_CLAIM.format(candidate=_CANDIDATE + " FOR UPDATE OF i SKIP LOCKED")).bindparams(
    _NOW
)
_PG_LOCK_LANE = text("SELECT concurrency FROM lanes WHERE name = :lane FOR UPDATE")
_SQLITE_LANE = text("SELECT concurrency FROM lanes WHERE name = :lane")


async def claim_next(
    conn: AsyncConnection, *, lane: str, node_id: str, host: str, now: datetime
) -> dict[str, Any] | None:
    """Atomically move the next runnable instance of ``lane`` to running on ``node_id``."""
    pg = conn.dialect.name == "postgresql"
    concurrency = (
        await conn.execute(_PG_LOCK_LANE if pg else _SQLITE_LANE, {"lane": lane})
    ).scalar()
    if concurrency is None:
        return None
    params = {
        "lane": lane,
        "node": node_id,
        "host": host,
        "now": now,
        "concurrency": concurrency,
    }
    claimed = (await conn.execute(_PG_CLAIM if pg else _SQLITE_CLAIM, params)).scalar()
    return None if claimed is None else await instances.get(conn, int(claimed))


_BATCH = """
UPDATE instances
   SET status = 'running', node_id = :node, host = :host, started_at = :now, updated_at = :now
 WHERE id IN (
       SELECT i.id FROM instances i
        WHERE i.lane = :lane AND i.status = 'queued'
          AND (i.overlap_limit = 0 OR i.schedule_id IS NULL)
          AND i.id < COALESCE((SELECT min(l.id) FROM instances l
                                WHERE l.lane = :lane AND l.status = 'queued'
                                  AND l.overlap_limit > 0 AND l.schedule_id IS NOT NULL),
                              9223372036854775807)
        ORDER BY i.id
        LIMIT :n{lock})
   AND status = 'queued'
RETURNING id
"""
_SQLITE_BATCH = text(_BATCH.format(lock="")).bindparams(_NOW)
_PG_BATCH = text(_BATCH.format(lock=" FOR UPDATE OF i SKIP LOCKED")).bindparams(_NOW)
_RUNNING_IN_LANE = text("SELECT count(*) FROM instances WHERE lane = :lane AND status = 'running'")


_LIMITED_QUEUED = text(
    "SELECT 1 FROM instances WHERE lane = :lane AND status = 'queued' "
    "AND overlap_limit > 0 AND schedule_id IS NOT NULL LIMIT 1"
)


async def claim_batch(
    conn: AsyncConnection, *, lane: str, node_id: str, host: str, now: datetime, most: int
) -> tuple[list[dict[str, Any]], bool]:
    """Claim up to ``most`` of the lane's free slots at once, in queue order, for instances
    without a per-schedule overlap limit (those go through ``claim_next``). Lane
    concurrency holds: the free slots are counted under the same lock as the claim.
    Also says whether the lane has queued instances that must be claimed one by one."""
    pg = conn.dialect.name == "postgresql"
    concurrency = (
        await conn.execute(_PG_LOCK_LANE if pg else _SQLITE_LANE, {"lane": lane})
    ).scalar()
    if concurrency is None:
        return [], False
    limited = (await conn.execute(_LIMITED_QUEUED, {"lane": lane})).first() is not None
    running = int((await conn.execute(_RUNNING_IN_LANE, {"lane": lane})).scalar() or 0)
    free = min(int(concurrency) - running, most)
    if free <= 0:
        return [], False
    params = {"lane": lane, "node": node_id, "host": host, "now": now, "n": free}
    result = await conn.execute(_PG_BATCH if pg else _SQLITE_BATCH, params)
    ids = [int(i) for i in result.scalars()]
    rows = await instances.get_many(conn, ids) if ids else []
    return sorted(rows, key=lambda r: r["id"]), limited
