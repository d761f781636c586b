"""Instance logs in the store (``log_chunks``): appended in batches by the node running an
instance, read in order by any host, pruned with the log retention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import ACTIVE_STATUSES, Instance, LogChunk, table_of

chunks = table_of(LogChunk)
instances = table_of(Instance)

PRUNE_BATCH = 500  # instances whose old chunks go in one housekeeping round


async def append(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert chunks (instance_id, seq, lines, line_count, chars, created_at), one statement."""
    if rows:
        await conn.execute(chunks.insert(), list(rows))


async def last(conn: AsyncConnection, instance_id: int) -> tuple[int, int]:
    """The instance's last seq and the characters its chunks hold (0, 0 when none)."""
    stmt = select(func.max(chunks.c.seq), func.sum(chunks.c.chars)).where(
        chunks.c.instance_id == instance_id
    )
    seq, chars = (await conn.execute(stmt)).one()
    return int(seq or 0), int(chars or 0)


async def since(
    conn: AsyncConnection, instance_id: int, after_seq: int = 0, limit: int = 1000
) -> list[tuple[int, str]]:
    """Chunks after ``after_seq``, in order: (seq, newline-joined lines)."""
    stmt = (
        select(chunks.c.seq, chunks.c.lines)
        .where(chunks.c.instance_id == instance_id, chunks.c.seq > after_seq)
        .order_by(chunks.c.seq)
        .limit(limit)
    )
    return [(int(seq), str(text)) for seq, text in (await conn.execute(stmt)).all()]


async def has_any(conn: AsyncConnection, instance_id: int) -> bool:
    stmt = select(chunks.c.seq).where(chunks.c.instance_id == instance_id).limit(1)
    return (await conn.execute(stmt)).first() is not None


async def prune(conn: AsyncConnection, older_than: datetime) -> int:
    """Delete chunks written before ``older_than``, except those of instances still queued,
    running or waiting (a long-lived instance keeps its whole log). At most
    ``PRUNE_BATCH`` instances per call: housekeeping comes back for the rest."""
    active = exists().where(
        instances.c.id == chunks.c.instance_id, instances.c.status.in_(ACTIVE_STATUSES)
    )
    old = (
        select(chunks.c.instance_id)
        .where(chunks.c.created_at < older_than, ~active)
        .distinct()
        .limit(PRUNE_BATCH)
    )
    ids = [int(i) for i in (await conn.execute(old)).scalars()]
    if not ids:
        return 0
    result = await conn.execute(
        delete(chunks).where(chunks.c.instance_id.in_(ids), chunks.c.created_at < older_than)
    )
    return int(result.rowcount)
